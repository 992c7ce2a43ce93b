import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPak } from "../../src/pak/read-pak.js";
import { SideloadError } from "../../src/errors.js";
import { badFixtures, goodFixtures, sampleDigest } from "../../scripts/fixture-catalogue.js";
import { makeFixtures } from "../../scripts/make-fixtures.js";
import { writePak } from "../../scripts/pak-writer.js";

const fixtures = join(import.meta.dirname, "../../fixtures");

async function readError(file: string, options = {}): Promise<SideloadError> {
  try {
    await readPak(file, options);
  } catch (error) {
    if (error instanceof SideloadError) return error;
    throw error;
  }
  throw new Error(`${file} was read without an error`);
}

describe("readPak on good paks", () => {
  it.each(goodFixtures)("$file gives its references", async ({ file, defaultRegistry, references }) => {
    const pak = await readPak(join(fixtures, file), { defaultRegistry });
    expect(pak.adapters.map((a) => a.reference)).toEqual(references);
  });

  it("keeps every .conf key and the pak's name and version", async () => {
    const pak = await readPak(join(fixtures, "sample.pak"));
    expect(pak.name).toBe("SampleAdapter");
    expect(pak.version).toBe("1.0.0");
    const [adapter] = pak.adapters;
    expect(adapter).toMatchObject({
      kind: "SampleAdapter",
      registry: "harbor.example.com:8443",
      repository: "/mp/sample-adapter",
      digest: sampleDigest,
      defaultRegistry: false,
      source: "adapter.zip: SampleAdapter.conf",
    });
    expect(Object.keys(adapter?.conf ?? {})).toEqual([
      "KINDKEY",
      "API_VERSION",
      "API_PROTOCOL",
      "API_PORT",
      "REGISTRY",
      "REPOSITORY",
      "DIGEST",
    ]);
  });

  it("takes the root .conf, never the decoy under <KIND>/conf/", async () => {
    // The writer puts a decoy KIND/conf/KIND.conf with an all-zero digest beside the real one.
    const pak = await readPak(join(fixtures, "sample.pak"));
    expect(pak.adapters[0]?.digest).toBe(sampleDigest);
    expect(pak.adapters[0]?.digest).not.toContain("0".repeat(64));
  });

  it("marks a registry that came from --default-registry", async () => {
    const pak = await readPak(join(fixtures, "no-registry.pak"), { defaultRegistry: "reg.corp:5000" });
    expect(pak.adapters[0]?.defaultRegistry).toBe(true);
    expect(pak.adapters[0]?.registry).toBe("reg.corp:5000");
  });

  it("ignores --default-registry when the pak names its registry", async () => {
    const pak = await readPak(join(fixtures, "sample.pak"), { defaultRegistry: "reg.corp:5000" });
    expect(pak.adapters[0]?.registry).toBe("harbor.example.com:8443");
  });

  it("rejects an invalid --default-registry", async () => {
    const error = await readError(join(fixtures, "no-registry.pak"), { defaultRegistry: "https://reg" });
    expect(error.code).toBe("USAGE");
    expect(error.message).toContain("--default-registry");
  });
});

describe("readPak on bad paks", () => {
  it.each(badFixtures)("$file fails with $code", async ({ file, code, message }) => {
    const error = await readError(join(fixtures, file));
    expect(error.code).toBe(code);
    expect(error.message).toContain(message);
    expect(error.message).toContain(file);
    expect(error.message).not.toMatch(/\n/);
    expect(error.hint).toBeTruthy();
    expect(error.exitStatus).toBe(2);
  });

  it("names a missing file and a directory", async () => {
    expect((await readError(join(fixtures, "nope.pak"))).code).toBe("FILE_NOT_FOUND");
    expect((await readError(fixtures)).code).toBe("FILE_UNREADABLE");
  });
});

describe("fixtures and limits", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mp-sideload-fixtures-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("the committed fixtures are exactly what the fixture script writes", async () => {
    const written = await makeFixtures(dir);
    const committed = (await readdir(fixtures)).filter((f) => f.endsWith(".pak")).sort();
    expect(written.map((p) => p.slice(dir.length + 1)).sort()).toEqual(committed);
    for (const name of committed) {
      expect(
        Buffer.compare(await readFile(join(dir, name)), await readFile(join(fixtures, name))),
        name,
      ).toBe(0);
    }
  });

  it("refuses a real central directory with more entries than the limit", async () => {
    const file = join(dir, "many.pak");
    const extraEntries = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`content/f${i}.txt`, "x"]));
    await writePak(file, {
      adapters: [{ kind: "K", registry: "r.example", repository: "/a", digest: sampleDigest }],
      extraEntries,
    });
    expect((await readPak(file)).adapters).toHaveLength(1);
    const error = await readError(file, { limits: { maxEntries: 50 } });
    expect(error.code).toBe("PAK_TOO_MANY_ENTRIES");
    expect(error.message).toMatch(/declares \d+ zip entries/);
  });

  it("does not read content/: a pak with 64 MiB of content reads as fast as a small one", async () => {
    const file = join(dir, "large.pak");
    await writePak(file, {
      adapters: [{ kind: "K", registry: "r.example", repository: "/a", digest: sampleDigest }],
      contentBytes: 64 * 1024 * 1024,
    });
    // Correctness here; the timing is measured by bench/inspect.ts, never asserted in a test.
    expect((await readPak(file)).adapters[0]?.digest).toBe(sampleDigest);
  });
});
