/**
 * `pull --relay` of a pak whose registry redirects its blobs to a second server of the lab
 * (`scripts/lab.sh redirect up`: docker-registry's `redirect` storage middleware, and a static
 * HTTPS server over the registry's storage standing in for S3 or a CDN), onto isolated proxies
 * that can reach neither. The relay follows the redirect itself and takes no credential along.
 * The proofs are the real parts' own records: the engines' RepoDigests, the redirect registry's
 * access log (a 307 for each blob), the blob server's log (each blob once, and whether an
 * Authorization header came), and the proxies' /etc/hosts byte for byte.
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BlobServerLogLine } from "../../scripts/blob-server.js";
import { parseReport, runCli } from "./cli.js";
import { clearImages, engineOf, inventoryArgs, labCtl, loadLab, registryEnv, type Lab } from "./lab.js";
import { isolatedProxies } from "./isolated.js";

let lab: Lab;
let iso: ReturnType<typeof isolatedProxies>;
/** The redirect registry (`registry.mp-sideload.test:PORT`), its pak and its reference. */
let redirectRegistry: string;
let blobServer: string;
let blobLogFile: string;
let redirectLogFile: string;
let pak: string;
let reference: string;
/** The config and layers of the sample image, as its manifest in the registry's storage names them. */
let blobs: string[];
let configDigest: string;

const storageFile = (digest: string) =>
  join(lab.dir, "registry/data/docker/registry/v2/blobs/sha256", digest.slice(7, 9), digest.slice(7), "data");

beforeAll(async () => {
  lab = loadLab();
  iso = isolatedProxies(lab);
  await labCtl("redirect", "up");
  await labCtl("isolated", "up", "2");
  for (const j of [1, 2]) await iso.clear(j);
  const env = Object.fromEntries(
    readFileSync(join(lab.dir, "redirect/redirect.env"), "utf8")
      .trim()
      .split("\n")
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  ) as Record<string, string>;
  redirectRegistry = env.MP_LAB_REDIRECT_REGISTRY ?? "";
  blobServer = env.MP_LAB_BLOB_SERVER ?? "";
  blobLogFile = env.MP_LAB_BLOB_LOG ?? "";
  redirectLogFile = env.MP_LAB_REDIRECT_LOG ?? "";
  pak = join(lab.dir, "paks/redirect.pak");
  reference = `${redirectRegistry}/mp/test-adapter@${lab.sampleDigest}`;
  const manifest = JSON.parse(await readFile(storageFile(lab.sampleDigest), "utf8")) as {
    config: { digest: string };
    layers: { digest: string }[];
  };
  configDigest = manifest.config.digest;
  blobs = [manifest.config.digest, ...manifest.layers.map((l) => l.digest)].sort();
}, 180_000);

afterAll(async () => {
  await labCtl("isolated", "down");
  await labCtl("redirect", "down");
});

/** The blob server's log lines from line `from` on. */
async function blobLog(from = 0): Promise<BlobServerLogLine[]> {
  const text = await readFile(blobLogFile, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter((line) => line !== "")
    .slice(from)
    .map((line) => JSON.parse(line) as BlobServerLogLine);
}

/** The digest a blob server path names (`/docker/registry/v2/blobs/sha256/ab/HEX/data`). */
function digestOf(path: string): string {
  const hex = /\/blobs\/sha256\/[0-9a-f]{2}\/([0-9a-f]{64})\/data$/.exec(path)?.[1];
  return hex === undefined ? path : `sha256:${hex}`;
}

/** The redirect registry's blob GETs so far: `DIGEST STATUS` for each, in order. */
async function registryBlobGets(): Promise<string[]> {
  const log = await readFile(redirectLogFile, "utf8");
  return [
    ...log.matchAll(/"GET \/v2\/mp\/test-adapter\/blobs\/(sha256:[0-9a-f]{64}) HTTP\/[0-9.]+" (\d{3}) /g),
  ].map((m) => `${m[1]} ${m[2]}`);
}

describe("pull --relay through a registry that redirects its blobs to a second server", () => {
  it("the lab's redirect registry answers a blob GET with 307 to the blob server", async () => {
    // `redirect up` asked it for the config blob with curl (and fails unless it answers 307 to the
    // blob server): its own access log holds that answer.
    expect(await registryBlobGets()).toContain(`${configDigest} 307`);
    expect(blobServer).toMatch(/^https:\/\/\[::1\]:\d+$/);
    expect(redirectRegistry).not.toBe(lab.registry);
  });

  it("lands the exact reference on each isolated proxy; each blob fetched once from the second server, without credentials", async () => {
    const logFrom = (await blobLog()).length;
    const getsFrom = (await registryBlobGets()).length;
    const run = await runCli(["pull", pak, ...iso.targets, "--relay", "--json"], { env: registryEnv(lab) });
    expect(run.code, run.stderr).toBe(0);
    const rows = parseReport(run).proxies as { status: string; via?: string }[];
    expect(rows.map((r) => [r.status, r.via])).toEqual([
      ["pulled", "relay"],
      ["pulled", "relay"],
    ]);
    for (const j of [1, 2]) {
      const inspect = await iso.engine(j).getImage(reference).inspect();
      expect(inspect.RepoDigests).toEqual([reference]);
      expect(await iso.hostsOf(j)).toBe(await iso.originalHostsOf(j));
    }
    // The registry redirected each blob once (for both proxies), and served none itself.
    const gets = (await registryBlobGets()).slice(getsFrom);
    expect(gets.sort()).toEqual(blobs.map((digest) => `${digest} 307`));
    // The second server served each blob once, whole, and no Authorization header reached it.
    const served = await blobLog(logFrom);
    console.log(
      `blob server, relayed run: ${served.length} requests, Authorization headers: ${JSON.stringify(served.map((l) => l.authorization))}`,
    );
    expect(served.map((l) => [l.method, digestOf(l.path), l.status]).sort()).toEqual(
      blobs.map((digest) => ["GET", digest, 200]),
    );
    for (const line of served) {
      expect(line.authorization).toBeNull();
      expect(line.bytes).toBe(readFileSync(storageFile(digestOf(line.path))).length);
    }
    expect(run.stdout + run.stderr).not.toContain(lab.registryPassword);
    expect(await readFile(blobLogFile, "utf8")).not.toContain(lab.registryPassword);
  });

  it("a redirect the relay cannot follow fails the proxy with the reason from this machine, /etc/hosts as it was", async () => {
    await iso.clear(1);
    // The blob server gone (by its pid file): the registry still redirects to it.
    process.kill(Number(readFileSync(join(lab.dir, "redirect/blobs.pid"), "utf8")));
    try {
      const run = await runCli(["pull", pak, ...iso.targets, "--limit", "iso-1", "--relay", "--json"], {
        env: registryEnv(lab),
      });
      expect(run.code, run.stderr).toBe(1);
      const [row] = parseReport(run).proxies;
      // The engine saw only "502 Bad Gateway"; the row says what the relay met.
      expect(row?.error?.message).toContain(
        `the relay could not fetch it from this machine: ${redirectRegistry}: its blob redirect to ${blobServer} cannot be followed from this machine: connection refused`,
      );
      expect(row?.error?.hint).toContain("this machine must reach that server too");
      expect(await iso.hostsOf(1)).toBe(await iso.originalHostsOf(1));
    } finally {
      await labCtl("redirect", "up");
    }
  });

  it("a direct pull from an ordinary proxy through that registry works too: the engine follows the redirect", async () => {
    await clearImages(lab, 1);
    const logFrom = (await blobLog()).length;
    try {
      const run = await runCli(["pull", pak, ...inventoryArgs(lab), "--limit", "proxy-1", "--json"], {
        env: registryEnv(lab),
      });
      expect(run.code, run.stderr).toBe(0);
      expect(parseReport(run).proxies.map((r) => r.status)).toEqual(["pulled"]);
      const inspect = await engineOf(lab, 1).getImage(reference).inspect();
      expect(inspect.RepoDigests).toEqual([reference]);
      const served = await blobLog(logFrom);
      // The engine's own redirect handling is Docker's: recorded, not asserted.
      console.log(
        `blob server, direct pull by the engine: Authorization headers: ${JSON.stringify(served.map((l) => l.authorization))}`,
      );
      expect(served.every((l) => l.userAgent?.startsWith("docker/"))).toBe(true);
      expect(
        [...new Set(served.filter((l) => l.status === 200).map((l) => digestOf(l.path)))].sort(),
      ).toEqual(blobs);
    } finally {
      await clearImages(lab, 1);
    }
  });
});
