/**
 * openZipFile's narrowed central directory: only wanted records are parsed, and no name can hide
 * from that by being spelled another way (non-ASCII bytes, an Info-ZIP Unicode Path field).
 * The zips are written byte by byte here, since no zip library writes such hostile records.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPak } from "../../src/pak/read-pak.js";
import { openZipFile, readEntry, ZipProblem } from "../../src/pak/zip.js";
import { sampleDigest } from "../../scripts/fixture-catalogue.js";
import { writePak } from "../../scripts/pak-writer.js";

interface RawEntry {
  /** The name field's bytes (a string is written as UTF-8). */
  name: string | Buffer;
  data?: string;
  extra?: Buffer;
}

/** A zip of stored entries, with the names and extra fields exactly as given. */
function rawZip(entries: RawEntry[], options: { breakSecondRecord?: boolean } = {}): Buffer {
  const locals: Buffer[] = [];
  const records: Buffer[] = [];
  let offset = 0;
  entries.forEach((entry, index) => {
    const name = Buffer.isBuffer(entry.name) ? entry.name : Buffer.from(entry.name, "utf8");
    const data = Buffer.from(entry.data ?? "");
    const extra = entry.extra ?? Buffer.alloc(0);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, data);
    const record = Buffer.alloc(46);
    record.writeUInt32LE(index === 1 && options.breakSecondRecord ? 0x02014b51 : 0x02014b50, 0);
    record.writeUInt16LE(20, 4);
    record.writeUInt16LE(20, 6);
    record.writeUInt32LE(crc, 16);
    record.writeUInt32LE(data.length, 20);
    record.writeUInt32LE(data.length, 24);
    record.writeUInt16LE(name.length, 28);
    record.writeUInt16LE(extra.length, 30);
    record.writeUInt32LE(offset, 42);
    records.push(record, name, extra);
    offset += 30 + name.length + data.length;
  });
  const directory = Buffer.concat(records);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** An Info-ZIP Unicode Path extra field naming `path` for a record whose name field is `raw`. */
function unicodePath(raw: string, path: string): Buffer {
  const body = Buffer.concat([Buffer.from([1]), Buffer.alloc(4), Buffer.from(path, "utf8")]);
  body.writeUInt32LE(crc32(Buffer.from(raw, "utf8")), 1);
  const header = Buffer.alloc(4);
  header.writeUInt16LE(0x7075, 0);
  header.writeUInt16LE(body.length, 2);
  return Buffer.concat([header, body]);
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mp-sideload-zip-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function zipFile(name: string, bytes: Buffer): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, bytes);
  return file;
}

const wanted = (name: string) => name === "manifest.txt" || name.endsWith(".zip");

describe("openZipFile with a wanted filter", () => {
  it("parses only the wanted records, lists the others, and reads entries from the real file", async () => {
    const file = await zipFile(
      "plain.zip",
      rawZip([
        { name: "manifest.txt", data: "{}" },
        ...Array.from({ length: 50 }, (_, i) => ({ name: `content/dashboards/d${i}.json`, data: `${i}` })),
        { name: "adapter.zip", data: "the adapter" },
      ]),
    );
    const zip = await openZipFile(file, 1000, wanted);
    try {
      expect([...zip.entries.keys()]).toEqual(["manifest.txt", "adapter.zip"]);
      expect(zip.omitted?.size).toBe(50);
      expect(zip.omitted?.has("content/dashboards/d7.json")).toBe(true);
      const entry = zip.entries.get("adapter.zip");
      if (entry === undefined || entry === "duplicate") throw new Error("no adapter.zip");
      expect((await readEntry(zip.zip, entry, 1000)).toString()).toBe("the adapter");
    } finally {
      zip.zip.close();
    }
  });

  it("a name given by a Unicode Path field is parsed, so a second adapter.zip is still a duplicate", async () => {
    const file = await zipFile(
      "unicode-path.zip",
      rawZip([
        { name: "adapter.zip", data: "shown" },
        { name: "content/x.json", data: "installed", extra: unicodePath("content/x.json", "adapter.zip") },
      ]),
    );
    const zip = await openZipFile(file, 1000, wanted);
    try {
      expect(zip.entries.get("adapter.zip")).toBe("duplicate");
      expect(zip.omitted?.size).toBe(0);
    } finally {
      zip.zip.close();
    }
  });

  it("a name with non-ASCII bytes is parsed (yauzl decodes it), not skipped by its bytes", async () => {
    const file = await zipFile(
      "cp437.zip",
      rawZip([{ name: Buffer.from([0x63, 0x81, 0x2e, 0x6a, 0x73, 0x6f, 0x6e]) }, { name: "adapter.zip" }]),
    );
    const zip = await openZipFile(file, 1000, wanted);
    try {
      expect([...zip.entries.keys()]).toEqual(["cü.json", "adapter.zip"]);
    } finally {
      zip.zip.close();
    }
  });

  it("a directory it cannot walk is left to yauzl, which refuses it as without the filter", async () => {
    const bytes = rawZip([{ name: "manifest.txt" }, { name: "content/a" }, { name: "adapter.zip" }], {
      breakSecondRecord: true,
    });
    const file = await zipFile("broken.zip", bytes);
    await expect(openZipFile(file, 1000, wanted)).rejects.toBeInstanceOf(ZipProblem);
    await expect(openZipFile(file, 1000)).rejects.toBeInstanceOf(ZipProblem);
  });
});

describe("readPak and the narrowed directory", () => {
  it("reads an adapter the manifest names without .zip (the whole directory is read then)", async () => {
    const file = join(dir, "odd-name.pak");
    const adapter = {
      kind: "OddAdapter",
      registry: "harbor.example.com:8443",
      repository: "/mp/odd-adapter",
      digest: sampleDigest,
      zipName: "payload/odd-adapter.bin",
    };
    await writePak(file, { adapters: [adapter], contentBytes: 4096, contentFiles: 20 });
    const pak = await readPak(file);
    expect(pak.adapters.map((a) => a.reference)).toEqual([
      `harbor.example.com:8443/mp/odd-adapter@${sampleDigest}`,
    ]);
  });
});
