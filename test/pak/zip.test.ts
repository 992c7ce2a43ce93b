/**
 * openZipFile: yauzl parses every record of the central directory through a read-ahead reader,
 * and hostile records (a name spelled another way by non-ASCII bytes or an Info-ZIP Unicode
 * Path field, a broken record, a count that lies) are read as yauzl reads them. The zips are
 * written byte by byte here, since no zip library writes such hostile records.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readPak } from "../../src/pak/read-pak.js";
import { openZipFile, readEntry, ZipProblem, type OpenZip } from "../../src/pak/zip.js";
import { sampleDigest } from "../../scripts/fixture-catalogue.js";
import { writePak } from "../../scripts/pak-writer.js";

interface RawEntry {
  /** The name field's bytes (a string is written as UTF-8). */
  name: string | Buffer;
  data?: string;
  extra?: Buffer;
}

/** A zip of stored entries, with the names and extra fields exactly as given. */
function rawZip(
  entries: RawEntry[],
  options: { breakSecondRecord?: boolean; declaredCount?: number } = {},
): Buffer {
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
  end.writeUInt16LE(options.declaredCount ?? entries.length, 8);
  end.writeUInt16LE(options.declaredCount ?? entries.length, 10);
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

/** The bytes of one entry, read from the file through yauzl. */
async function dataOf(zip: OpenZip, name: string): Promise<string> {
  const entry = zip.entries.get(name);
  if (entry === undefined || entry === "duplicate") throw new Error(`no single ${name}`);
  return (await readEntry(zip.zip, entry, 1000)).toString();
}

describe("openZipFile", () => {
  it("parses every record, across read-ahead windows, and reads entries from the real file", async () => {
    // 2,000 records of ~100 bytes: a directory of ~200 KiB, several read-ahead windows, with
    // records cut by a window's end.
    const content = Array.from({ length: 2000 }, (_, i) => ({
      name: `content/dashboards/${String(i).padStart(4, "0")}-${"d".repeat(40)}.json`,
      data: `dashboard ${i}`,
    }));
    const file = await zipFile(
      "plain.zip",
      rawZip([
        { name: "manifest.txt", data: "{}" },
        ...content,
        { name: "adapter.zip", data: "the adapter" },
      ]),
    );
    const zip = await openZipFile(file, 10_000);
    try {
      expect(zip.entries.size).toBe(2002);
      expect([...zip.entries.keys()]).toEqual(["manifest.txt", ...content.map((e) => e.name), "adapter.zip"]);
      expect(await dataOf(zip, "adapter.zip")).toBe("the adapter");
      expect(await dataOf(zip, "manifest.txt")).toBe("{}");
      expect(await dataOf(zip, content[1234]!.name)).toBe("dashboard 1234");
    } finally {
      zip.zip.close();
    }
  });

  it("a name given by a Unicode Path field is the name, so a second adapter.zip is a duplicate", async () => {
    const file = await zipFile(
      "unicode-path.zip",
      rawZip([
        { name: "adapter.zip", data: "shown" },
        { name: "content/x.json", data: "installed", extra: unicodePath("content/x.json", "adapter.zip") },
      ]),
    );
    const zip = await openZipFile(file, 1000);
    try {
      expect(zip.entries.get("adapter.zip")).toBe("duplicate");
      expect(zip.entries.has("content/x.json")).toBe(false);
    } finally {
      zip.zip.close();
    }
  });

  it("a name with non-ASCII bytes is decoded as CP437, as yauzl decodes it", async () => {
    const file = await zipFile(
      "cp437.zip",
      rawZip([{ name: Buffer.from([0x63, 0x81, 0x2e, 0x6a, 0x73, 0x6f, 0x6e]) }, { name: "adapter.zip" }]),
    );
    const zip = await openZipFile(file, 1000);
    try {
      expect([...zip.entries.keys()]).toEqual(["cü.json", "adapter.zip"]);
    } finally {
      zip.zip.close();
    }
  });

  it("refuses a directory with a broken record", async () => {
    const bytes = rawZip([{ name: "manifest.txt" }, { name: "content/a" }, { name: "adapter.zip" }], {
      breakSecondRecord: true,
    });
    const file = await zipFile("broken.zip", bytes);
    await expect(openZipFile(file, 1000)).rejects.toThrow(/invalid central directory file header signature/);
    await expect(openZipFile(file, 1000)).rejects.toBeInstanceOf(ZipProblem);
  });

  it("refuses an end record that declares more records than the directory holds", async () => {
    const bytes = rawZip([{ name: "manifest.txt" }, { name: "adapter.zip" }], { declaredCount: 3 });
    const file = await zipFile("short.zip", bytes);
    await expect(openZipFile(file, 1000)).rejects.toBeInstanceOf(ZipProblem);
  });

  it("refuses more entries than allowed by the count yauzl reads, before parsing any record", async () => {
    const bytes = rawZip([{ name: "manifest.txt" }, { name: "adapter.zip" }], { declaredCount: 60_000 });
    const file = await zipFile("lying-count.zip", bytes);
    await expect(openZipFile(file, 1000)).rejects.toMatchObject({ count: 60_000 });
  });
});

describe("readPak", () => {
  it("reads an adapter the manifest names without .zip", async () => {
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
