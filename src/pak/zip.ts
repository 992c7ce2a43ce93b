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

/** Open a zip file by its central directory, refusing more than `maxEntries` entries. */
export function openZipFile(path: string, maxEntries: number): Promise<OpenZip> {
  return new Promise((resolve, reject) => {
    yauzl.open(path, options, (error, zip) => {
      if (error) return reject(new ZipProblem(error.message));
      collectEntries(zip, maxEntries).then(resolve, reject);
    });
  });
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
