/**
 * `pull --prune` in the per-proxy steps, with a fake session: the prune runs once every image
 * of the proxy is there, on that session, keeps every current digest of a repository, and puts
 * each repository's outcome on its first row; a proxy with a failed image is not pruned.
 */
import { describe, expect, it } from "vitest";
import type { EngineImage } from "../../src/engine/engine.js";
import type { Proxy } from "../../src/inventory/proxy.js";
import type { Session } from "../../src/session/proxy-session.js";
import { sideloadProxy } from "../../src/sideload/sideload-proxy.js";
import type { AdapterImage } from "../../src/sideload/types.js";

const proxy: Proxy = { name: "cp-1", host: "10.0.0.5", port: 22, user: "root", groups: [] };
const d = (c: string) => `sha256:${c.repeat(64)}`;
const image = (name: string, digest: string): AdapterImage => ({
  kind: "K",
  registry: "r1:443",
  repository: `/mp/${name}`,
  digest,
  reference: `r1:443/mp/${name}@${digest}`,
});
const a1 = image("a", d("1"));
const a2 = image("a", d("2"));
const b = image("b", d("3"));
const engineImage = (id: string, created: number, names: string[], size: number): EngineImage => ({
  id,
  repoDigests: names,
  repoTags: [],
  created,
  size,
});

function fakeSession(held: string[], images: EngineImage[]) {
  const deletes: string[] = [];
  const session = {
    connect: () => Promise.resolve(),
    startEngine: (whileWaiting?: () => void) => {
      whileWaiting?.();
      return Promise.resolve({ version: "27", apiVersion: "1.47" });
    },
    transport: "stream-local",
    endpoint: { socket: "/var/run/docker.sock", source: "default", transport: "stream-local" },
    closed: false,
    hasReference: (ref: string) => Promise.resolve(held.includes(ref)),
    repoDigests: (ref: string) => Promise.resolve(held.includes(ref) ? [ref] : undefined),
    login: () => Promise.resolve(),
    pull: () => Promise.reject(new Error("no pull in this test")),
    listImages: () => Promise.resolve(images),
    containerImageIds: () => Promise.resolve(new Set<string>()),
    removeImageName: (name: string) => {
      deletes.push(name);
      const owner = images.find((i) => i.repoDigests.includes(name));
      return Promise.resolve({ untagged: [name], deleted: owner ? [owner.id] : [] });
    },
    close: () => undefined,
  } as unknown as Session;
  return { open: () => session, deletes };
}

function run(images: AdapterImage[], session: ReturnType<typeof fakeSession>, keep = 0) {
  return sideloadProxy(
    proxy,
    { mode: "pull", images, retries: 0, timeoutMs: 5000, prune: { keep } },
    {
      knownHosts: [],
      connect: { hostKeys: { knownHostsFile: "/dev/null", acceptNew: false }, auth: { identities: [] } },
      onEvent: () => undefined,
      openSession: session.open,
    },
  );
}

describe("pull --prune on one proxy", () => {
  const old = engineImage("old-a", 1, [`r1:443/mp/a@${d("9")}`], 500);
  const oldB = engineImage("old-b", 1, [`r1:443/mp/b@${d("8")}`], 70);
  const current = [
    engineImage("a1", 5, [a1.reference], 1),
    engineImage("a2", 6, [a2.reference], 1),
    engineImage("b", 7, [b.reference], 1),
  ];

  it("once every image is there: every current digest of a repository stays, each repository's outcome on its first row", async () => {
    const session = fakeSession([a1.reference, a2.reference, b.reference], [...current, old, oldB]);
    const rows = await run([a1, a2, b], session);
    expect(rows.map((r) => r.status)).toEqual(["present", "present", "present"]);
    expect(session.deletes.sort()).toEqual([`r1:443/mp/a@${d("9")}`, `r1:443/mp/b@${d("8")}`]);
    expect(rows[0]?.prune).toMatchObject({ bytesFreed: 500, removed: [{ id: "old-a" }] });
    expect(rows[1]?.prune).toBeUndefined();
    expect(rows[2]?.prune).toMatchObject({ bytesFreed: 70, removed: [{ id: "old-b" }] });
    expect(rows[0]?.steps.map((s) => s.step)).toContain("prune");
  });

  it("--keep 1 keeps the most recent old image of each repository", async () => {
    const [ca1, , cb] = current;
    const session = fakeSession([a1.reference, b.reference], [ca1!, cb!, old, oldB]);
    const rows = await run([a1, b], session, 1);
    expect(session.deletes).toEqual([]);
    expect(rows[0]?.prune).toMatchObject({ bytesFreed: 0, removed: [] });
  });

  it("a proxy where an image is not there (the pull failed) is not pruned", async () => {
    const session = fakeSession([a1.reference], [...current, old, oldB]);
    const rows = await run([a1, b], session);
    expect(rows.map((r) => r.status)).toEqual(["present", "failed"]);
    expect(session.deletes).toEqual([]);
    expect(rows.every((r) => r.prune === undefined)).toBe(true);
  });
});
