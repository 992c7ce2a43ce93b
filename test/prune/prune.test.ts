/**
 * pruneOnEngine over a scripted engine: what it asks the engine to delete, in which order, and
 * how it counts what the engine answers (deleted, untagged only, refused).
 */
import { describe, expect, it } from "vitest";
import { SideloadError } from "../../src/errors.js";
import type { Engine, EngineImage } from "../../src/engine/engine.js";
import { pruneOnEngine } from "../../src/prune/prune.js";

const d = (c: string) => `sha256:${c.repeat(64)}`;
const repo = "reg.example:5000/mp/adapter";
const current = `${repo}@${d("c")}`;
const image = (id: string, created: number, names: string[], size: number): EngineImage => ({
  id,
  repoDigests: names.filter((n) => n.includes("@")),
  repoTags: names.filter((n) => !n.includes("@")),
  created,
  size,
});
const job = (keep: number, dryRun = false) => ({
  images: [
    {
      kind: "K",
      registry: "reg.example:5000",
      repository: "/mp/adapter",
      digest: d("c"),
      reference: current,
    },
  ],
  keep,
  dryRun,
});

/** An engine holding `images`, whose containers use `inUse`; `refuse` names get a 409. */
function fakeEngine(images: EngineImage[], inUse: string[] = [], refuse: string[] = []) {
  const deletes: string[] = [];
  const names = new Map(images.map((i) => [i.id, [...i.repoDigests, ...i.repoTags]]));
  const engine = {
    listImages: () => Promise.resolve(images),
    containerImageIds: () => Promise.resolve(new Set(inUse)),
    removeImageName: (name: string) => {
      deletes.push(name);
      if (refuse.includes(name)) {
        return Promise.reject(new SideloadError("PRUNE_CONFLICT", `refused ${name}`));
      }
      for (const [id, list] of names) {
        if (!list.includes(name)) continue;
        list.splice(list.indexOf(name), 1);
        return Promise.resolve({ untagged: [name], deleted: list.length === 0 ? [id] : [] });
      }
      return Promise.resolve({ untagged: [], deleted: [] });
    },
  };
  return { engine: engine as unknown as Engine, deletes };
}

describe("pruneOnEngine", () => {
  const cur = image("cur", 9, [current], 1000);
  const a = image("a", 1, [`${repo}@${d("1")}`, `${repo}:old`], 100);
  const b = image("b", 2, [`${repo}@${d("2")}`, "reg.example:5000/mp/other:x"], 200);
  const c = image("c", 3, [`${repo}@${d("3")}`], 300);

  it("deletes each selected image's names of the repository, never the other repository's; counts only deleted images as freed", async () => {
    const { engine, deletes } = fakeEngine([cur, a, b, c]);
    const result = await pruneOnEngine(engine, job(0));
    expect(deletes).toEqual([`${repo}@${d("3")}`, `${repo}@${d("2")}`, `${repo}@${d("1")}`, `${repo}:old`]);
    expect(result.removed.map((r) => [r.id, r.deleted, r.untagOnly])).toEqual([
      ["c", true, false],
      ["b", false, true],
      ["a", true, false],
    ]);
    expect(result.bytesFreed).toBe(400);
    expect(result.error).toBeUndefined();
  });

  it("a dry run asks the engine to delete nothing", async () => {
    const { engine, deletes } = fakeEngine([cur, a, c]);
    const result = await pruneOnEngine(engine, job(0, true));
    expect(deletes).toEqual([]);
    expect(result.removed.map((r) => r.id)).toEqual(["c", "a"]);
    expect(result.bytesFreed).toBe(0);
  });

  it("an image the engine refuses is reported, and the others are still pruned", async () => {
    const { engine } = fakeEngine([cur, a, c], [], [`${repo}@${d("3")}`]);
    const result = await pruneOnEngine(engine, job(0));
    expect(result.error?.code).toBe("PRUNE_CONFLICT");
    expect(result.removed.find((r) => r.id === "c")?.error?.code).toBe("PRUNE_CONFLICT");
    expect(result.removed.find((r) => r.id === "a")?.deleted).toBe(true);
    expect(result.bytesFreed).toBe(100);
  });

  it("only the confirmed image IDs go, even when more became prunable since the listing", async () => {
    const { engine, deletes } = fakeEngine([cur, a, c]);
    const result = await pruneOnEngine(engine, job(0), new Set(["a"]));
    expect(result.removed.map((r) => r.id)).toEqual(["a"]);
    expect(deletes).toEqual([`${repo}@${d("1")}`, `${repo}:old`]);
  });

  it("never asks to delete an image a container uses", async () => {
    const { engine, deletes } = fakeEngine([cur, a, c], ["c"]);
    await pruneOnEngine(engine, job(0));
    expect(deletes.some((n) => n.includes(d("3")))).toBe(false);
  });
});
