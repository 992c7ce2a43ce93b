/**
 * known_hosts on disk: read once per run, and new keys recorded without ever damaging the file.
 * The matching rules themselves are in known-hosts.ts.
 */
import { randomBytes } from "node:crypto";
import { chmod, chown, mkdir, readFile, realpath, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { SideloadError } from "../errors.js";
import { homeDir, readTextFile, renameOver } from "../files.js";
import { parseKnownHosts, type KnownHostLine } from "./known-hosts.js";

const hint = "check --known-hosts";

/**
 * OpenSSH's `~/.ssh/known_hosts`, with the home from the password database when HOME is empty
 * or relative (never a `./.ssh/known_hosts` in the working folder).
 */
export function defaultKnownHostsFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(homeDir(env), ".ssh", "known_hosts");
}

/** The largest known_hosts read (OpenSSH's own lines are ~100 bytes: a million hosts). */
const maxKnownHostsBytes = 128 * 1024 * 1024;

/** Read known_hosts once per run; a missing file (or /dev/null) is an empty one. */
export async function loadKnownHosts(file: string): Promise<KnownHostLine[]> {
  try {
    const info = await stat(file);
    if (!info.isFile() && info.isCharacterDevice() && (await realpath(file)) === "/dev/null") return [];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
  }
  // Regular files only, bounded, and a path swapped for a FIFO after the stat is refused too.
  const text = await readTextFile(file, {
    what: "known_hosts file",
    hint,
    maxBytes: maxKnownHostsBytes,
  }).catch((error: unknown) => {
    if (error instanceof SideloadError && error.code === "FILE_NOT_FOUND") return "";
    throw error;
  });
  return parseKnownHosts(text);
}

/**
 * Add `line` (one known_hosts line ending in a newline) to `file`, as a line of its own even
 * when the file lacks a final newline. Written to a temporary file beside it and renamed over
 * it, so a crash never leaves half a file; the file's mode and owner are kept, and a symbolic
 * link is followed rather than replaced. If the file changed while this wrote (another run
 * recording a key), it starts again from the new content rather than lose that line.
 */
export async function appendKnownHost(file: string, line: string): Promise<void> {
  const target = await realpath(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return file;
    throw error;
  });
  for (let attempt = 0; ; attempt++) {
    const before = await stat(target).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw error;
    });
    if (before !== undefined && !before.isFile()) {
      if (target === "/dev/null") return; // known_hosts deliberately discarded, as with OpenSSH
      throw new SideloadError("FILE_UNREADABLE", `${file}: known_hosts is not a regular file`, { hint });
    }
    const existing = before === undefined ? "" : await readFile(target, "utf8");
    const separator = existing === "" || existing.endsWith("\n") ? "" : "\n";
    const mode = before === undefined ? 0o600 : before.mode & 0o7777;
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    const temporary = `${target}.mp-sideload-${randomBytes(6).toString("hex")}`;
    try {
      await writeFile(temporary, existing + separator + line, { mode, flag: "wx" });
      await chmod(temporary, mode); // the umask may have narrowed it
      if (before !== undefined) await chown(temporary, before.uid, before.gid).catch(() => undefined);
      const now = await stat(target).catch(() => undefined);
      const unchanged =
        (now === undefined && before === undefined) ||
        (now !== undefined &&
          before !== undefined &&
          now.size === before.size &&
          now.mtimeMs === before.mtimeMs);
      if (!unchanged && attempt < 5) {
        await unlink(temporary);
        continue;
      }
      await renameOver(temporary, target);
      return;
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw error;
    }
  }
}
