/**
 * The containers a proxy's engine created from one exact image (an adapter's), running or not,
 * with an exited one's exit code and last log lines: what `verify --running` shows. The image is
 * matched by its ID (the one the reference names), not by the name a container was created
 * with, so a container created by tag or digest of the same image counts. Log lines are one
 * line each, escaped and redacted: a container's output is untrusted and may echo a secret.
 */
import { oneLine } from "../errors.js";
import { redact } from "../redact.js";
import type { Engine } from "./engine.js";

/** One container of the image. */
export interface AdapterContainer {
  /** The first 12 hex digits of its ID, as docker ps shows it. */
  id: string;
  name: string;
  /** `running`, `exited`, `created`, `restarting`, `paused`, `dead`. */
  state: string;
  /** The engine's words: `Up 3 minutes`, `Exited (1) 2 minutes ago`. */
  status: string;
  /** For a container that is not running: its exit code. */
  exitCode?: number | undefined;
  /** For a container that is not running: its last log lines. */
  logs?: string[] | undefined;
}

/** More containers of one image than any proxy runs: the rest are not listed. */
const maxContainers = 50;

/**
 * The containers created from the image `reference` names; none when the engine lacks the
 * image. `tail` log lines for each container that is not running.
 */
export async function adapterContainers(
  engine: Engine,
  reference: string,
  tail = 20,
): Promise<AdapterContainer[]> {
  const image = (await engine
    .request((docker) => docker.getImage(reference).inspect())
    .catch((error: unknown) => {
      if ((error as { statusCode?: unknown }).statusCode === 404) return undefined;
      throw error;
    })) as { Id?: unknown } | undefined;
  if (typeof image?.Id !== "string") return [];
  const listed = await engine.request((docker, abortSignal) =>
    (docker.listContainers.bind(docker) as (o: object) => Promise<unknown>)({ all: true, abortSignal }),
  );
  const rows = (Array.isArray(listed) ? listed : []) as Record<string, unknown>[];
  const mine = rows.filter((c) => c.ImageID === image.Id).slice(0, maxContainers);
  const containers: AdapterContainer[] = [];
  for (const c of mine) {
    const id = typeof c.Id === "string" ? c.Id : "";
    const names = Array.isArray(c.Names) ? c.Names.filter((n): n is string => typeof n === "string") : [];
    const state = typeof c.State === "string" ? c.State : "unknown";
    const row: AdapterContainer = {
      id: id.slice(0, 12),
      name: oneLine(redact((names[0] ?? "").replace(/^\//, "")), 128),
      state: oneLine(state, 32),
      status: oneLine(typeof c.Status === "string" ? c.Status : "", 128),
    };
    if (state !== "running" && /^[0-9a-f]{12,64}$/.test(id)) {
      row.exitCode = await exitCodeOf(engine, id);
      row.logs = await lastLogLines(engine, id, tail);
    }
    containers.push(row);
  }
  return containers;
}

async function exitCodeOf(engine: Engine, id: string): Promise<number | undefined> {
  const info = (await engine.request((docker) => docker.getContainer(id).inspect())) as {
    State?: { ExitCode?: unknown };
  };
  const code = info.State?.ExitCode;
  return typeof code === "number" ? code : undefined;
}

/** The last `tail` lines of stdout and stderr, as the engine keeps them (its multiplexed frames read). */
async function lastLogLines(engine: Engine, id: string, tail: number): Promise<string[]> {
  const raw = await engine.request((docker) =>
    docker.getContainer(id).logs({ stdout: true, stderr: true, tail, follow: false }),
  );
  const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(typeof raw === "string" ? raw : "");
  const text = demultiplex(bytes);
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop();
  return lines.slice(-tail).map((line) => oneLine(redact(line), 500));
}

/**
 * The engine's log stream of a container without a TTY: frames of an 8-byte header (stream,
 * 0, 0, 0, size as 4 bytes big-endian) and their payload. Anything else is taken as plain text.
 */
export function demultiplex(bytes: Buffer): string {
  const parts: Buffer[] = [];
  let at = 0;
  while (at + 8 <= bytes.length) {
    const stream = bytes[at];
    if ((stream !== 0 && stream !== 1 && stream !== 2) || bytes[at + 1] !== 0 || bytes[at + 2] !== 0)
      return bytes.toString("utf8");
    const size = bytes.readUInt32BE(at + 4);
    parts.push(bytes.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return at === bytes.length ? Buffer.concat(parts).toString("utf8") : bytes.toString("utf8");
}
