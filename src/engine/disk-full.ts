/**
 * The proxy's disk: where the engine keeps images, how much room is left there (`df` over the
 * proxy's connection: the one place it runs, for the disk-full error of a pull and doctor's disk
 * check alike), and the error a pull that ran out of it ends with.
 */
import { abortable } from "../abortable.js";
import { SideloadError, oneLine } from "../errors.js";
import type { SshConnection } from "../ssh/connect.js";

/** What is known of the proxy's disk when a pull ran out of it. */
export interface DiskFullFacts {
  /** Names the proxy. */
  where: string;
  /** The engine's DockerRootDir ("" when the engine would not say). */
  rootDir: string;
  /** Free bytes in the file system of `rootDir`, when `df` could tell. */
  freeBytes?: number | undefined;
  /** The image's layers as the registry serves them (compressed), when the engine had said. */
  layersBytes?: number | undefined;
  /** The engine's own words. */
  message: string;
}

/** The engine's words for a write that found no space (ENOSPC), in any of its steps. */
export function isDiskFull(message: string): boolean {
  return /no space left on device/i.test(message);
}

/** PROXY_DISK_FULL naming where the engine keeps images, the space there and what frees it. */
export function diskFullError(facts: DiskFullFacts): SideloadError {
  const where = facts.rootDir === "" ? "the engine's data folder" : facts.rootDir;
  const known = [
    facts.freeBytes === undefined ? undefined : `${formatBytes(facts.freeBytes)} free there now`,
    facts.layersBytes
      ? `the image's layers are ${formatBytes(facts.layersBytes)} compressed, more unpacked`
      : undefined,
  ].filter((part) => part !== undefined);
  return new SideloadError(
    "PROXY_DISK_FULL",
    `${facts.where}: the proxy's disk is full: the engine keeps images in ${where}${known.length ? ` (${known.join("; ")})` : ""}: ${oneLine(facts.message, 200)}`,
    {
      hint: `free space in ${where} on the proxy: \`mp-sideload prune PAK…\` removes older adapter images, \`docker image prune\` there removes dangling ones; then run again`,
    },
  );
}

/** The engine's data root as a path that may reach a shell on the proxy: plain path characters only. */
export function isPlainPath(path: string): boolean {
  return /^\/[\w./-]*$/.test(path);
}

/**
 * Free bytes in the file system holding `rootDir` (the engine's answer), by `df -Pk` over the
 * proxy's connection; undefined when the path is not plain or `df` cannot tell.
 */
export async function freeBytesUnder(
  connection: Pick<SshConnection, "exec">,
  rootDir: string,
  signal?: AbortSignal,
): Promise<number | undefined> {
  if (!isPlainPath(rootDir)) return undefined;
  const df = await abortable(connection.exec(`df -Pk -- '${rootDir}'`), signal).catch(() => undefined);
  return df === undefined || df.code !== 0 ? undefined : parseDfAvailable(df.stdout);
}

/** The "Available" column (1024-byte blocks) of `df -Pk`'s one data line, in bytes. */
export function parseDfAvailable(stdout: string): number | undefined {
  const line = stdout.trim().split("\n")[1];
  const available = line?.trim().split(/\s+/)[3];
  return available !== undefined && /^\d+$/.test(available) ? Number(available) * 1024 : undefined;
}

function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number(value.toFixed(1))} ${units[unit]}`;
}
