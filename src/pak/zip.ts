import { close, createReadStream, fstat, open, read } from "node:fs";
import type { Readable } from "node:stream";
import { promisify } from "node:util";
import yauzl from "yauzl";
import type { Entry, ZipFile } from "yauzl";

/** A zip opened for random access: the central directory is read, no entry data yet. */
export interface OpenZip {
  zip: ZipFile;
  /** Entries by name; a name that appears twice maps to `"duplicate"`. */
  entries: Map<string, Entry | "duplicate">;
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
 */
export async function openZipFile(path: string, maxEntries: number): Promise<OpenZip> {
  const fd = await promisify(open)(path, "r");
  let reader: FileReader;
  try {
    const { size } = await promisify(fstat)(fd);
    reader = new FileReader(fd, await readCentralDirectory(fd, size));
    const zip = await new Promise<ZipFile>((resolve, reject) => {
      yauzl.fromRandomAccessReader(reader, size, options, (error, opened) =>
        error ? reject(new ZipProblem(error.message)) : resolve(opened),
      );
    });
    return await collectEntries(zip, maxEntries);
  } catch (error) {
    close(fd, () => undefined);
    throw error;
  }
}

/** The central directory's bytes and where they start, or undefined when they cannot be found (yauzl then reports why). */
async function readCentralDirectory(
  fd: number,
  size: number,
): Promise<{ start: number; bytes: Buffer } | undefined> {
  const readAt = async (position: number, length: number) => {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await promisify(read)(fd, buffer, 0, length, position);
    return buffer.subarray(0, bytesRead);
  };
  const tailLength = Math.min(size, 22 + 0xffff);
  const tail = await readAt(size - tailLength, tailLength);
  const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0 || eocd + 22 > tail.length) return undefined;
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdStart = tail.readUInt32LE(eocd + 16);
  if (
    (cdSize === 0xffffffff || cdStart === 0xffffffff) &&
    eocd >= 20 &&
    tail.readUInt32LE(eocd - 20) === 0x07064b50
  ) {
    const zip64 = await readAt(Number(tail.readBigUInt64LE(eocd - 12)), 56);
    if (zip64.length < 56 || zip64.readUInt32LE(0) !== 0x06064b50) return undefined;
    cdSize = Number(zip64.readBigUInt64LE(40));
    cdStart = Number(zip64.readBigUInt64LE(48));
  }
  // A hostile size is yauzl's to refuse; only a plausible directory is cached.
  if (cdStart + cdSize > size || cdSize > 64 * 1024 * 1024) return undefined;
  return { start: cdStart, bytes: await readAt(cdStart, cdSize) };
}

/** yauzl's reader over a file descriptor, answering reads inside the central directory from memory. */
class FileReader extends yauzl.RandomAccessReader {
  constructor(
    private readonly fd: number,
    private readonly directory: { start: number; bytes: Buffer } | undefined,
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
    if (cd && position >= cd.start && position + length <= cd.start + cd.bytes.length) {
      cd.bytes.copy(buffer, offset, position - cd.start, position - cd.start + length);
      return void process.nextTick(callback, null);
    }
    read(this.fd, buffer, offset, length, position, (error, bytesRead) => {
      if (error) return callback(error);
      callback(bytesRead < length ? new Error("unexpected end of file") : null);
    });
  }

  override _readStreamForRange(start: number, end: number): Readable {
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
      const chunks: Buffer[] = [];
      let total = 0;
      stream.on("data", (chunk: Buffer) => {
        total += chunk.length;
        if (total > maxBytes) {
          stream.destroy();
          reject(new EntryTooLarge(maxBytes));
          return;
        }
        chunks.push(chunk);
      });
      stream.once("error", (err: Error) => reject(new ZipProblem(err.message)));
      stream.once("end", () => resolve(Buffer.concat(chunks, total)));
    });
  });
}
