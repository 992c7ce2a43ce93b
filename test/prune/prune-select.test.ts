import { describe, expect, it } from "vitest";
import type { EngineImage } from "../../src/engine/engine.js";
import { repositoryOfName, selectPrunable, type PruneRule } from "../../src/prune/prune-select.js";

const d = (c: string) => `sha256:${c.repeat(64)}`;
const repo = "reg.example:5000/mp/adapter";
const other = "reg.example:5000/mp/other";
const current = `${repo}@${d("c")}`;

/** An image of `names` (repo@digest or repo:tag), created at `created`, of `size` bytes. */
const image = (id: string, created: number, names: string[], size = 100): EngineImage => ({
  id: `sha256:${id}`,
  repoDigests: names.filter((n) => n.includes("@")),
  repoTags: names.filter((n) => !n.includes("@")),
  created,
  size,
});

const cur = image("cur", 50, [current]);
const old1 = image("old1", 10, [`${repo}@${d("1")}`]);
const old2 = image("old2", 20, [`${repo}@${d("2")}`]);
const old3 = image("old3", 30, [`${repo}@${d("3")}`]);
const foreign = image("foreign", 5, [`${other}@${d("f")}`]);

const rule = (over: Partial<PruneRule> = {}): PruneRule => ({
  current: [current],
  inUse: new Set(),
  keep: 1,
  ...over,
});

const ids = (list: { id: string }[]) => list.map((i) => i.id.slice("sha256:".length)).sort();

describe("selectPrunable", () => {
  const cases: {
    name: string;
    images: EngineImage[];
    rule: PruneRule;
    remove: string[];
    kept?: Record<string, string>;
  }[] = [
    {
      name: "keep 1: the most recent old image stays, older ones go",
      images: [cur, old1, old2, old3],
      rule: rule(),
      remove: ["old1", "old2"],
      kept: { cur: "current", old3: "keep" },
    },
    {
      name: "keep 0: every old image goes, the current one stays",
      images: [cur, old1, old2, old3],
      rule: rule({ keep: 0 }),
      remove: ["old1", "old2", "old3"],
    },
    {
      name: "keep larger than the old images: nothing goes",
      images: [cur, old1, old2],
      rule: rule({ keep: 5 }),
      remove: [],
    },
    {
      name: "an image a container uses stays and does not count toward --keep",
      images: [cur, old1, old2, old3],
      rule: rule({ keep: 1, inUse: new Set(["sha256:old3"]) }),
      remove: ["old1"],
      kept: { cur: "current", old3: "in-use", old2: "keep" },
    },
    {
      name: "keep 0 with a used image: exactly the unused ones go",
      images: [cur, old1, old2, old3],
      rule: rule({ keep: 0, inUse: new Set(["sha256:old2"]) }),
      remove: ["old1", "old3"],
    },
    {
      name: "another repository's images are never touched",
      images: [cur, old1, foreign],
      rule: rule({ keep: 0 }),
      remove: ["old1"],
    },
    {
      name: "an image holding the current digest stays, whatever else it is named",
      images: [image("both", 1, [current, `${repo}@${d("9")}`, `${repo}:old`])],
      rule: rule({ keep: 0 }),
      remove: [],
      kept: { both: "current" },
    },
    {
      name: "a tagged old image of the repository (no digest) is old too",
      images: [cur, image("tagged", 1, [`${repo}:1.0`])],
      rule: rule({ keep: 0 }),
      remove: ["tagged"],
    },
    {
      name: "Docker Hub names compare in the engine's normal form",
      images: [
        image("hubcur", 2, [`alpine@${d("a")}`]),
        image("hubold", 1, [`alpine@${d("b")}`]),
        image("lib", 1, [`library/alpine2@${d("b")}`]),
      ],
      rule: rule({ current: [`docker.io/library/alpine@${d("a")}`], keep: 0 }),
      remove: ["hubold"],
      kept: { hubcur: "current" },
    },
    {
      name: "keep counts per repository",
      images: [
        old1,
        old2,
        image("s1", 1, [`${other}@${d("4")}`]),
        image("s2", 2, [`${other}@${d("5")}`]),
        image("scur", 3, [`${other}@${d("6")}`]),
      ],
      rule: rule({ current: [current, `${other}@${d("6")}`], keep: 1 }),
      remove: ["old1", "s1"],
    },
    {
      name: "dangling and nameless images are nobody's: untouched",
      images: [cur, { ...image("none", 1, []), repoTags: ["<none>:<none>"], repoDigests: ["<none>@<none>"] }],
      rule: rule({ keep: 0 }),
      remove: [],
    },
  ];

  it.each(cases)("$name", ({ images, rule, remove, kept }) => {
    const selection = selectPrunable(images, rule);
    expect(ids(selection.remove)).toEqual([...remove].sort());
    if (kept) {
      expect(Object.fromEntries(selection.kept.map((k) => [k.id.slice(7), k.reason]))).toEqual(kept);
    }
  });

  it("an image also named in another repository: only this repository's names go (untag), the other name stays", () => {
    const shared = image("shared", 1, [`${repo}@${d("1")}`, `${repo}:old`, `${other}:keep-me`]);
    const { remove } = selectPrunable([cur, shared], rule({ keep: 0 }));
    expect(remove).toEqual([
      {
        id: "sha256:shared",
        repository: repo,
        names: [`${repo}@${d("1")}`, `${repo}:old`],
        size: 100,
        created: 1,
        untagOnly: true,
      },
    ]);
  });

  it("a name outside the grammar is nobody's: never sent to the engine, and its image is only untagged", () => {
    const odd = image("odd", 1, [`${repo}@${d("1")}`, "reg.example:5000/mp/adapter:x?force=1"]);
    const { remove } = selectPrunable([cur, odd], rule({ keep: 0 }));
    expect(remove.map((r) => [r.names, r.untagOnly])).toEqual([[[`${repo}@${d("1")}`], true]]);
  });

  it("the most recent first: created time decides what --keep keeps", () => {
    const { kept } = selectPrunable([old3, old1, old2, cur], rule({ keep: 2 }));
    expect(kept.filter((k) => k.reason === "keep").map((k) => k.id)).toEqual([old3.id, old2.id]);
  });
});

describe("repositoryOfName", () => {
  it.each([
    [`${repo}@${d("1")}`, repo],
    [`${repo}:1.0`, repo],
    ["reg.example:5000/mp/adapter", repo],
    ["alpine:3", "docker.io/library/alpine"],
    ["index.docker.io/user/x@" + d("1"), "docker.io/user/x"],
    ["<none>:<none>", undefined],
    ["<none>@<none>", undefined],
  ])("%s → %s", (name, expected) => {
    expect(repositoryOfName(name)).toBe(expected);
  });
});
