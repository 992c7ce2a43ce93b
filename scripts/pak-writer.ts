/**
 * Writes management packs the way the Integration SDK's `mp-build` does: a zip whose entries
 * are all deflated, with directory entries, a JSON manifest.txt naming `adapters` and
 * `adapter_kinds`, and an adapter zip holding `<KIND>.conf` at its root beside `<KIND>/conf/`.
 * Used by the fixture script, the lab and the tests; options produce the broken variants.
 */
import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import yazl from "yazl";

/** A fixed timestamp, so that the same spec always writes the same bytes. */
const mtime = new Date("2024-01-01T00:00:00Z");

export interface AdapterSpec {
  kind: string;
  /** Written as `KEY=VALUE` lines in this order; ignored when `confText` is given. */
  registry?: string | undefined;
  repository?: string | undefined;
  digest?: string | undefined;
  /** The whole `.conf` text, for malformed variants. */
  confText?: string;
  /** Name of the adapter zip in the pak; default `adapter.zip`. */
  zipName?: string;
  /** Raw bytes instead of an adapter zip (a "not a zip" or zip bomb variant). */
  zipBytes?: Buffer | (() => Promise<Buffer>);
  /** Leave the root `.conf` out (only the `<KIND>/conf/*.conf` decoys remain). */
  omitConf?: boolean;
  /** Extra entries in the adapter zip. */
  extraEntries?: Record<string, string | Buffer>;
}

export interface PakSpec {
  name?: string;
  version?: string;
  adapters: AdapterSpec[];
  /** Replace manifest.txt's text entirely. */
  manifestText?: string;
  /** List these adapter zips in the manifest instead of the ones written. */
  listedAdapters?: string[] | null;
  /** Bytes of filler under content/ (stored, not deflated, so that a large pak is quick to write). */
  contentBytes?: number;
  /** Split the filler over this many files (real paks carry hundreds of dashboards and reports). */
  contentFiles?: number;
  /** Further top-level entries. */
  extraEntries?: Record<string, string | Buffer>;
}

/** The `.conf` text `mp-build` writes for an adapter. */
export function confText(adapter: AdapterSpec): string {
  const lines = [`KINDKEY=${adapter.kind}`, "API_VERSION=1.0.0", "API_PROTOCOL=https", "API_PORT=443"];
  if (adapter.registry !== undefined) lines.push(`REGISTRY=${adapter.registry}`);
  if (adapter.repository !== undefined) lines.push(`REPOSITORY=${adapter.repository}`);
  if (adapter.digest !== undefined) lines.push(`DIGEST=${adapter.digest}`);
  return `${lines.join("\n")}\n`;
}

/**
 * A zip holding one entry of `size` zero bytes. Stored (`compress: false`), the zip itself is
 * `size` bytes, and deflated again as a pak entry it becomes a bomb: tiny in the pak, huge inflated.
 */
export function zerosZip(name: string, size: number, compress: boolean): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  zip.addBuffer(Buffer.alloc(size), name, { compress, mtime });
  zip.end();
  return streamToBuffer(zip.outputStream);
}

/** Build the adapter zip in memory. */
export async function adapterZip(adapter: AdapterSpec): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const kind = adapter.kind;
  const add = (name: string, data: string | Buffer) =>
    zip.addBuffer(Buffer.from(data), name, { compress: true, mtime });
  if (!adapter.omitConf) add(`${kind}.conf`, adapter.confText ?? confText(adapter));
  add("manifest.txt", JSON.stringify({ adapter_kind: kind, version: "1.0.0" }, null, 2));
  add("eula.txt", "Sample EULA\n");
  add("default.png", Buffer.from("89504e470d0a1a0a", "hex"));
  zip.addEmptyDirectory("resources/", { mtime });
  add("resources/resources.properties", `DISPLAY_NAME=${kind}\n`);
  zip.addEmptyDirectory(`${kind}/`, { mtime });
  zip.addEmptyDirectory(`${kind}/conf/`, { mtime });
  add(`${kind}/conf/describe.xml`, `<AdapterKind key="${kind}"/>\n`);
  // A decoy: mp-build puts other .conf files in the kind's conf folder; they are never the one.
  add(`${kind}/conf/${kind}.conf`, "DIGEST=sha256:" + "0".repeat(64) + "\n");
  for (const [name, data] of Object.entries(adapter.extraEntries ?? {})) add(name, data);
  zip.end();
  return streamToBuffer(zip.outputStream);
}

/** Write a pak to `path`. */
export async function writePak(path: string, spec: PakSpec): Promise<void> {
  const output = await pakStream(spec);
  await new Promise<void>((resolve, reject) => {
    const out = createWriteStream(path);
    output.pipe(out).on("finish", resolve).on("error", reject);
  });
}

/** A pak's bytes in memory. */
export async function pakBuffer(spec: PakSpec): Promise<Buffer> {
  return streamToBuffer(await pakStream(spec));
}

async function pakStream(spec: PakSpec): Promise<NodeJS.ReadableStream> {
  const zip = new yazl.ZipFile();
  const zipNames = spec.adapters.map((a) => a.zipName ?? "adapter.zip");
  const manifest = {
    display_name: "DISPLAY_NAME",
    name: spec.name ?? "SampleAdapter",
    description: "A management pack written by mp-sideload's fixture script",
    version: spec.version ?? "1.0.0",
    vcops_minimum_version: "8.10.0",
    disk_space_required: 500,
    run_scripts_on_all_nodes: "true",
    eula_file: "eula.txt",
    platform: ["Linux Non-VA", "Linux VA"],
    vendor: "mp-sideload tests",
    pak_icon: "default.png",
    ...(spec.listedAdapters === null
      ? {}
      : { adapters: spec.listedAdapters ?? zipNames, adapter_kinds: spec.adapters.map((a) => a.kind) }),
  };
  const add = (name: string, data: string | Buffer) =>
    zip.addBuffer(Buffer.from(data), name, { compress: true, mtime });
  add("manifest.txt", spec.manifestText ?? JSON.stringify(manifest, null, 2));
  add("eula.txt", "Sample EULA\n");
  add("default.png", Buffer.from("89504e470d0a1a0a", "hex"));
  zip.addEmptyDirectory("resources/", { mtime });
  add("resources/resources.properties", "DISPLAY_NAME=Sample\n");
  zip.addEmptyDirectory("content/", { mtime });
  zip.addEmptyDirectory("content/dashboards/", { mtime });
  add("content/dashboards/sample.json", JSON.stringify({ dashboards: [] }));
  for (const [index, adapter] of spec.adapters.entries()) {
    const name = zipNames[index] ?? "adapter.zip";
    const bytes = typeof adapter.zipBytes === "function" ? await adapter.zipBytes() : adapter.zipBytes;
    add(name, bytes ?? (await adapterZip(adapter)));
  }
  for (const [name, data] of Object.entries(spec.extraEntries ?? {})) add(name, data);
  if (spec.contentBytes) {
    const files = Math.max(1, spec.contentFiles ?? 1);
    for (let i = 0; i < files; i++) {
      const size = Math.floor(spec.contentBytes / files) + (i === 0 ? spec.contentBytes % files : 0);
      const name =
        files === 1 ? "content/files/large.bin" : `content/reports/report-${String(i).padStart(4, "0")}.bin`;
      zip.addReadStreamLazy(name, { compress: false, size, mtime }, (cb) => cb(null, filler(size)));
    }
  }
  zip.end();
  return zip.outputStream;
}

/** Incompressible-looking filler, generated in 1 MiB chunks. */
function filler(size: number): Readable {
  const chunk = Buffer.alloc(1024 * 1024);
  let state = 0x9e3779b9;
  for (let i = 0; i < chunk.length; i += 4) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    chunk.writeUInt32LE(state >>> 0, i);
  }
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(left, chunk.length);
      left -= n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  });
}

function streamToBuffer(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
}
