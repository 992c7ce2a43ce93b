/**
 * The relay's blobs: each fetched from the registry once per run for every proxy (one fetch in
 * flight per digest), written to a spool file as it arrives and read back from there by every
 * proxy that asks, even while it is still arriving. Memory stays bounded whatever the image
 * size: a chunk in flight per reader and per fetch. The bytes are checked against the digest
 * (and size) at the end; a blob that fails the check is never served again, and the readers that
 * were following it are cut off (the engine, which checks too, then retries).
 */
import { createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import { mkdtemp, open, rm, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable, pipeline } from "node:stream";

/** Fetches one blob from the registry. */
export type BlobSource = (digest: string) => Promise<Readable>;

/** What the spool has done, for the report and the tests. */
export interface SpoolStats {
  /** Fetches started from the registry, per digest (1 each, unless one failed and was retried). */
  fetches: Map<string, number>;
  /** Bytes received from the registry. */
  bytesIn: number;
}

const chunkSize = 256 * 1024;

/** One blob: its spool file, how much of it is written, and how it ended. */
class SpoolEntry extends EventEmitter {
  written = 0;
  complete = false;
  error: Error | undefined;
  /** Settles once the registry answered the fetch (its body is coming) or refused it. */
  readonly started: Promise<void>;
  startedOk!: () => void;
  startedFailed!: (error: Error) => void;

  constructor(
    readonly digest: string,
    readonly size: number,
    readonly path: string,
  ) {
    super();
    this.setMaxListeners(0); // one per reader following it
    this.started = new Promise<void>((resolve, reject) => {
      this.startedOk = resolve;
      this.startedFailed = reject;
    });
    this.started.catch(() => undefined);
  }

  /** Settle: complete, or failed with `error`; every reader waiting is woken. */
  finish(error?: Error): void {
    if (error === undefined) this.complete = true;
    else this.error = error;
    if (error === undefined) this.startedOk();
    else this.startedFailed(error);
    this.emit("change");
  }
}

export class BlobSpool {
  private readonly entries = new Map<string, SpoolEntry>();
  private readonly stats: SpoolStats = { fetches: new Map(), bytesIn: 0 };
  private closed = false;

  private constructor(
    /** The spool folder, removed by `close`. */
    readonly dir: string,
    private readonly source: BlobSource,
  ) {}

  /** A spool in a new private folder under the system's temporary folder. */
  static async create(source: BlobSource, parent = tmpdir()): Promise<BlobSpool> {
    return new BlobSpool(await mkdtemp(join(parent, "mp-sideload-relay-")), source);
  }

  get counts(): SpoolStats {
    return this.stats;
  }

  /**
   * The blob from byte `start` on, fetched from the registry if no fetch is done or under way.
   * `size` is the blob's size as its manifest declares it (checked with the digest). `ready`
   * settles when the registry has answered (or refused: its error), before anything is sent.
   */
  read(digest: string, size: number, start = 0): { ready: Promise<void>; open: () => Readable } {
    const entry = this.entryFor(digest, size);
    return { ready: entry.started, open: () => new SpoolReader(entry, start) };
  }

  /** Remove the spool folder; readers still open are cut off. */
  async close(): Promise<void> {
    this.closed = true;
    for (const entry of this.entries.values()) {
      if (!entry.complete && entry.error === undefined) entry.finish(new Error("the relay closed"));
    }
    this.entries.clear();
    await rm(this.dir, { recursive: true, force: true });
  }

  private entryFor(digest: string, size: number): SpoolEntry {
    const existing = this.entries.get(digest);
    if (existing !== undefined && existing.error === undefined) return existing;
    const fetches = (this.stats.fetches.get(digest) ?? 0) + 1;
    this.stats.fetches.set(digest, fetches);
    // A digest is `algorithm:hex` (checked by the relay): a safe file name with `:` replaced.
    const entry = new SpoolEntry(digest, size, join(this.dir, `${digest.replace(":", "-")}.${fetches}`));
    this.entries.set(digest, entry);
    void this.fetch(entry);
    return entry;
  }

  /** Registry → spool file, hashed on the way; the entry settles when it is checked. */
  private async fetch(entry: SpoolEntry): Promise<void> {
    let file: FileHandle | undefined;
    try {
      if (this.closed) throw new Error("the relay closed");
      file = await open(entry.path, "wx", 0o600);
      const body = await this.source(entry.digest);
      entry.startedOk();
      const [algorithm, expected] = entry.digest.split(":");
      const hash = createHash(algorithm ?? "sha256");
      const handle = file;
      const sink = new Writable({
        highWaterMark: chunkSize,
        write: (chunk: Buffer, _encoding, done) => {
          hash.update(chunk);
          this.stats.bytesIn += chunk.length;
          if (entry.written + chunk.length > entry.size) {
            done(new Error(`${entry.digest}: more bytes than the manifest's size ${entry.size}`));
            return;
          }
          handle.write(chunk, 0, chunk.length, entry.written).then(() => {
            entry.written += chunk.length;
            entry.emit("change");
            done();
          }, done);
        },
      });
      await new Promise<void>((resolve, reject) =>
        pipeline(body, sink, (error) => (error ? reject(error) : resolve())),
      );
      const actual = hash.digest("hex");
      if (actual !== expected || entry.written !== entry.size) {
        throw new Error(
          `${entry.digest}: the registry served ${entry.written} bytes of digest ${algorithm ?? "sha256"}:${actual}`,
        );
      }
      entry.finish();
    } catch (error) {
      entry.finish(error instanceof Error ? error : new Error(String(error)));
      if (this.entries.get(entry.digest) === entry) this.entries.delete(entry.digest);
      await rm(entry.path, { force: true });
    } finally {
      await file?.close();
    }
  }
}

/** Follows one spool file from `start`: waits for bytes not yet written, ends at the checked end. */
class SpoolReader extends Readable {
  private file: Promise<FileHandle> | undefined;
  private position: number;
  private reading = false;

  constructor(
    private readonly entry: SpoolEntry,
    start: number,
  ) {
    super({ highWaterMark: chunkSize });
    this.position = start;
    entry.on("change", this.wake);
  }

  /** A wake-up that came while a step ran: that step may have looked before it, so look again. */
  private again = false;

  private readonly wake = (): void => {
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    void this.step().finally(() => {
      this.reading = false;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  };

  override _read(): void {
    this.wake();
  }

  /** Push what is written past the position; end once the entry is complete and all is read. */
  private async step(): Promise<void> {
    const entry = this.entry;
    try {
      for (;;) {
        if (entry.error !== undefined) throw entry.error;
        // The last byte waits for the digest check: a blob that fails it never reaches its end.
        const readable = entry.complete ? entry.written : Math.min(entry.written, entry.size - 1);
        if (this.position < readable) {
          this.file ??= open(entry.path, "r");
          const buffer = Buffer.allocUnsafe(Math.min(chunkSize, readable - this.position));
          const { bytesRead } = await (await this.file).read(buffer, 0, buffer.length, this.position);
          this.position += bytesRead;
          if (!this.push(buffer.subarray(0, bytesRead))) return;
          continue;
        }
        if (entry.complete && this.position >= entry.written) {
          this.push(null);
          return;
        }
        return; // woken by the next change
      }
    } catch (error) {
      this.destroy(error instanceof Error ? error : new Error(String(error)));
    }
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.entry.off("change", this.wake);
    const file = this.file;
    if (file === undefined) return done(error);
    file
      .then(
        (handle) => handle.close(),
        () => undefined,
      )
      .finally(() => done(error));
  }
}
