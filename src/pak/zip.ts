import { close, createReadStream, fstat, open, read } from "node:fs";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import yauzl from "yauzl";
import type { Entry, ZipFile } from "yauzl";
import { readCapped } from "../streams.js";

/** A zip opened for random access: the central directory is read, no entry data yet. */
export interface OpenZip {
  zip: ZipFile;
  /** Entries by name; a name that appears twice maps to `"duplicate"`. */
  entries: Map<string, Entry | "duplicate">;
  /** Names left out by `openZipFile`'s `wanted` (not parsed, not in `entries`). */
  omitted?: Set<string>;
}

/** Thrown for anything wrong inside the zip structure; the caller decides the error code. */
export class ZipProblem extends Error {}

const options: yauzl.Options = {
  lazyEntries: true,
  autoClose: false,
  validateEntrySizes: true,
  decodeStrings: true,
  strictFileNames: false,
};

/**
 * Open a zip file by its central directory, refusing more than `maxEntries` entries. The
 * central directory is read in one read and served from memory: yauzl would otherwise issue
 * two reads per entry, which dominates `inspect` on a pak of a thousand files.
 *
 * With `wanted`, only the records it wants are given to yauzl to parse: a pak's hundreds of
 * dashboards and reports are skipped by a scan that reads just their names (listed in
 * `omitted`). A record whose name yauzl could decode otherwise (non-ASCII bytes, or an Info-ZIP
 * Unicode Path field) is always parsed, so that a name can never hide behind another spelling;
 * anything unexpected in the directory falls back to yauzl parsing all of it.
 */
export async function openZipFile(
  path: string,
  maxEntries: number,
  wanted?: (name: string) => boolean,
): Promise<OpenZip> {
  const fd = await promisify(open)(path, "r");
  try {
    const { size } = await promisify(fstat)(fd);
    const directory = await readCentralDirectory(fd, size);
    if (directory && directory.count > maxEntries) throw new TooManyEntries(directory.count);
    const narrowed = directory && wanted ? narrowDirectory(directory, wanted) : undefined;
    const reader = new FileReader(fd, narrowed?.directory ?? directory, narrowed !== undefined);
    const zip = await new Promise<ZipFile>((resolve, reject) => {
      yauzl.fromRandomAccessReader(reader, narrowed?.size ?? size, options, (error, opened) =>
        error ? reject(new ZipProblem(error.message)) : resolve(opened),
      );
    });
    const opened = await collectEntries(zip, maxEntries);
    return narrowed ? { ...opened, omitted: narrowed.omitted } : opened;
  } catch (error) {
    close(fd, () => undefined);
    throw error;
  }
}

interface Directory {
  /** Where the central directory starts in the file, and its bytes. */
  start: number;
  bytes: Buffer;
  /** The entry count the end record declares. */
  count: number;
}

/**
 * The central directory without the records `wanted` does not want, followed by an end record
 * for it: what yauzl sees at the end of a file of `size` bytes (entry data is read from the real
 * file, below `start`). Undefined when the directory is not plain enough to narrow safely.
 */
function narrowDirectory(
  directory: Directory,
  wanted: (name: string) => boolean,
): { directory: Directory; size: number; omitted: Set<string> } | undefined {
  const { bytes, start, count } = directory;
  if (start >= 0xffffffff) return undefined; // a ZIP64 directory: yauzl reads it whole
  const kept: Buffer[] = [];
  const omitted = new Set<string>();
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.length || bytes.readUInt32LE(at) !== 0x02014b50) return undefined;
    const nameLength = bytes.readUInt16LE(at + 28);
    const extraLength = bytes.readUInt16LE(at + 30);
    const end = at + 46 + nameLength + extraLength + bytes.readUInt16LE(at + 32);
    if (end > bytes.length) return undefined;
    const name = plainName(bytes.subarray(at + 46, at + 46 + nameLength));
    const extra = bytes.subarray(at + 46 + nameLength, at + 46 + nameLength + extraLength);
    if (name !== undefined && !hasUnicodePath(extra) && !wanted(name)) omitted.add(name);
    else kept.push(bytes.subarray(at, end));
    at = end;
  }
  const records = Buffer.concat(kept);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(kept.length, 8);
  eocd.writeUInt16LE(kept.length, 10);
  eocd.writeUInt32LE(records.length, 12);
  eocd.writeUInt32LE(start, 16);
  const narrowed = Buffer.concat([records, eocd]);
  return {
    directory: { start, bytes: narrowed, count: kept.length },
    size: start + narrowed.length,
    omitted,
  };
}

/** The name as yauzl decodes it when its bytes are plain ASCII (the same in CP437 and UTF-8), else undefined. */
function plainName(raw: Buffer): string | undefined {
  for (const byte of raw) if (byte >= 0x80) return undefined;
  return raw.toString("latin1");
}

/** Whether the extra fields hold an Info-ZIP Unicode Path (0x7075), which yauzl prefers to the name; true when they cannot be walked. */
function hasUnicodePath(extra: Buffer): boolean {
  let at = 0;
  while (at + 4 <= extra.length) {
    if (extra.readUInt16LE(at) === 0x7075) return true;
    at += 4 + extra.readUInt16LE(at + 2);
  }
  return at !== extra.length;
}

/** The central directory's bytes and where they start, or undefined when they cannot be found (yauzl then reports why). */
async function readCentralDirectory(fd: number, size: number): Promise<Directory | undefined> {
  const readAt = async (position: number, length: number) => {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await promisify(read)(fd, buffer, 0, length, position);
    return buffer.subarray(0, bytesRead);
  };
  const tailLength = Math.min(size, 22 + 0xffff);
  const tail = await readAt(size - tailLength, tailLength);
  const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0 || eocd + 22 > tail.length) return undefined;
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdStart = tail.readUInt32LE(eocd + 16);
  if (
    (cdSize === 0xffffffff || cdStart === 0xffffffff) &&
    eocd >= 20 &&
    tail.readUInt32LE(eocd - 20) === 0x07064b50
  ) {
    const zip64 = await readAt(Number(tail.readBigUInt64LE(eocd - 12)), 56);
    if (zip64.length < 56 || zip64.readUInt32LE(0) !== 0x06064b50) return undefined;
    count = Number(zip64.readBigUInt64LE(32));
    cdSize = Number(zip64.readBigUInt64LE(40));
    cdStart = Number(zip64.readBigUInt64LE(48));
  }
  // A hostile size is yauzl's to refuse; only a plausible directory is cached.
  if (cdStart + cdSize > size || cdSize > 64 * 1024 * 1024) return undefined;
  return { start: cdStart, bytes: await readAt(cdStart, cdSize), count };
}

/**
 * yauzl's reader over a file descriptor, answering reads inside the central directory from
 * memory. With `isTail`, the directory's bytes (a narrowed directory and its end record) *are*
 * the end of the file yauzl sees: everything from `directory.start` on comes from memory.
 */
class FileReader extends yauzl.RandomAccessReader {
  constructor(
    private readonly fd: number,
    private readonly directory: { start: number; bytes: Buffer } | undefined,
    private readonly isTail = false,
  ) {
    super();
  }

  override read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (err: Error | null) => void,
  ): void {
    const cd = this.directory;
    const inMemory = cd && position + length <= cd.start + cd.bytes.length;
    if (cd && inMemory && position >= cd.start) {
      cd.bytes.copy(buffer, offset, position - cd.start, position - cd.start + length);
      return void process.nextTick(callback, null);
    }
    // A read across the start of a narrowed tail (yauzl looking for the end record): the part
    // before it from the file, the rest from memory.
    const fromFile = cd && this.isTail ? Math.max(0, Math.min(length, cd.start - position)) : length;
    if (cd && this.isTail && (!inMemory || fromFile === 0)) {
      return void process.nextTick(callback, new Error("read beyond the end of the zip"));
    }
    read(this.fd, buffer, offset, fromFile, position, (error, bytesRead) => {
      if (error) return callback(error);
      if (bytesRead < fromFile) return callback(new Error("unexpected end of file"));
      if (cd && fromFile < length) cd.bytes.copy(buffer, offset + fromFile, 0, length - fromFile);
      callback(null);
    });
  }

  override _readStreamForRange(start: number, end: number): Readable {
    const cd = this.directory;
    if (cd && this.isTail && end > cd.start) {
      // A well-formed zip keeps entry data before its central directory.
      return Readable.from(
        (function* () {
          yield* [];
          throw new Error("entry data overlaps the central directory");
        })(),
      );
    }
    // A ReadStream closes its fd when destroyed (yauzl destroys each entry's stream), whatever
    // autoClose says: give it a close that leaves this reader's fd open.
    return createReadStream("", {
      fd: this.fd,
      start,
      end: end - 1,
      autoClose: false,
      fs: { open, read, close: (_fd: number, callback: (error: null) => void) => callback(null) },
    });
  }

  override close(callback: (err: Error | null) => void): void {
    close(this.fd, (error) => callback(error ?? null));
  }
}

/** Open a zip held in memory (the adapter zip inside a pak). */
export function openZipBuffer(buffer: Buffer, maxEntries: number): Promise<OpenZip> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buffer, options, (error, zip) => {
      if (error) return reject(new ZipProblem(error.message));
      collectEntries(zip, maxEntries).then(resolve, reject);
    });
  });
}

/** Thrown when a zip declares more entries than the caller allows; carries the count. */
export class TooManyEntries extends Error {
  constructor(readonly count: number) {
    super(`${count} entries`);
  }
}

function collectEntries(zip: ZipFile, maxEntries: number): Promise<OpenZip> {
  if (zip.entryCount > maxEntries) {
    zip.close();
    return Promise.reject(new TooManyEntries(zip.entryCount));
  }
  return new Promise((resolve, reject) => {
    const entries = new Map<string, Entry | "duplicate">();
    zip.on("entry", (entry: Entry) => {
      entries.set(entry.fileName, entries.has(entry.fileName) ? "duplicate" : entry);
      zip.readEntry();
    });
    zip.once("end", () => resolve({ zip, entries }));
    zip.once("error", (error: Error) => {
      zip.close();
      reject(new ZipProblem(error.message));
    });
    zip.readEntry();
  });
}

/** Thrown when an entry inflates to more than the cap. */
export class EntryTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`larger than ${limit} bytes`);
  }
}

/**
 * Inflate one entry into memory, stopping as soon as it would pass `maxBytes`: the size the
 * header declares is checked first, and the bytes actually produced are counted as well, since
 * a hostile zip can declare a small size and inflate to gigabytes.
 */
export function readEntry(zip: ZipFile, entry: Entry, maxBytes: number): Promise<Buffer> {
  if (entry.uncompressedSize > maxBytes) return Promise.reject(new EntryTooLarge(maxBytes));
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (error, stream) => {
      if (error) return reject(new ZipProblem(error.message));
      readCapped(stream, maxBytes, () => new EntryTooLarge(maxBytes)).then(resolve, (err: Error) =>
        reject(err instanceof EntryTooLarge ? err : new ZipProblem(err.message)),
      );
    });
  });
}
