import { close, createReadStream, fstat, open, read } from "node:fs";
import type { Readable } from "node:stream";
import { promisify } from "node:util";
import yauzl from "yauzl";
import type { Entry, ZipFile } from "yauzl";
import { readCapped } from "../streams.js";

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
 * Open a zip file by its central directory, refusing more than `maxEntries` entries. yauzl
 * parses every record of the directory; it reads through {@link FileReader}, which reads ahead
 * so that its two small reads per record are served from memory.
 */
export async function openZipFile(path: string, maxEntries: number): Promise<OpenZip> {
  const fd = await promisify(open)(path, "r");
  let zip: ZipFile;
  try {
    const { size } = await promisify(fstat)(fd);
    zip = await new Promise<ZipFile>((resolve, reject) => {
      yauzl.fromRandomAccessReader(new FileReader(fd), size, options, (error, opened) =>
        error ? reject(new ZipProblem(error.message)) : resolve(opened),
      );
    });
  } catch (error) {
    close(fd, () => undefined);
    throw error;
  }
  // From here the zip owns the fd: collectEntries closes it on failure, and closing it twice
  // could close a descriptor the number was reused for.
  return collectEntries(zip, maxEntries);
}

/** How far past a read that misses the window {@link FileReader} reads. */
const readAhead = 64 * 1024;

/**
 * yauzl's reader over a file descriptor, with one read-ahead window. yauzl reads the central
 * directory a record header and then a name at a time: two system calls per entry, which made
 * `inspect` of a pak of a thousand files twice as slow. A read outside the window reads
 * {@link readAhead} bytes from where it starts, so the records that follow come from memory.
 * The window is plain buffering by file offset: it knows nothing of the zip's structure, and
 * every byte yauzl parses is one it asked for.
 */
class FileReader extends yauzl.RandomAccessReader {
  private window = { start: 0, bytes: Buffer.alloc(0) };

  constructor(private readonly fd: number) {
    super();
  }

  override read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    callback: (err: Error | null) => void,
  ): void {
    const at = position - this.window.start;
    if (at >= 0 && at + length <= this.window.bytes.length) {
      this.window.bytes.copy(buffer, offset, at, at + length);
      // Never synchronously: yauzl's next read would recurse once per entry.
      return void process.nextTick(callback, null);
    }
    const ahead = Buffer.alloc(Math.max(length, readAhead));
    read(this.fd, ahead, 0, ahead.length, position, (error, bytesRead) => {
      if (error) return callback(error);
      if (bytesRead < length) return callback(new Error("unexpected end of file"));
      this.window = { start: position, bytes: ahead.subarray(0, bytesRead) };
      ahead.copy(buffer, offset, 0, length);
      callback(null);
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
      readCapped(stream, maxBytes, () => new EntryTooLarge(maxBytes)).then(resolve, (err: Error) =>
        reject(err instanceof EntryTooLarge ? err : new ZipProblem(err.message)),
      );
    });
  });
}
