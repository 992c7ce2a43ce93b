/**
 * The user's files with one set of rules. Reading (pak, inventory, report, CA, known_hosts, SSH
 * identities): only regular files (a FIFO or a device would block or never end), a size cap
 * stated up front, and an error that names the file and the cause in words. Writing (reports):
 * through a temporary file and a rename, never through a link. And the home folder they live in.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from "node:fs";
import { chmod, lstat, open, rename, stat, unlink, writeFile } from "node:fs/promises";
import { homedir, userInfo } from "node:os";
import { basename, dirname, join, posix, resolve, win32 } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SideloadError } from "./errors.js";

/** Words for the errno codes a user meets when giving a path. */
const causes: Record<string, string> = {
  ENOENT: "no such file",
  ENOTDIR: "a folder in the path is not a folder",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EISDIR: "it is a folder",
  ELOOP: "too many symbolic links",
  ENAMETOOLONG: "the path is too long",
  EIO: "input/output error",
  EMFILE: "too many open files",
};

/** The errno code of a thrown error in words, e.g. `permission denied (EACCES)`. */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === undefined) return (error as Error).message ?? String(error);
  return causes[code] === undefined ? code : `${causes[code]} (${code})`;
}

export interface RegularFileRules {
  /** What the file is, for messages: "inventory", "report", "registry CA". */
  what: string;
  /** What to do next when the file cannot be used. */
  hint: string;
}

/**
 * Check that `file` is a regular file (following symbolic links) and return its size. Anything
 * else is refused before it is opened: opening a FIFO blocks until a writer appears.
 */
export async function checkRegularFile(file: string, rules: RegularFileRules): Promise<number> {
  let info;
  try {
    info = await stat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new SideloadError(
      code === "ENOENT" || code === "ENOTDIR" ? "FILE_NOT_FOUND" : "FILE_UNREADABLE",
      `${file}: cannot read the ${rules.what}: ${describeFsError(error)}`,
      { hint: rules.hint, cause: error },
    );
  }
  if (!info.isFile()) {
    throw new SideloadError(
      "FILE_UNREADABLE",
      `${file}: the ${rules.what} is ${kindOf(info)}, not a regular file`,
      {
        hint: rules.hint,
      },
    );
  }
  return info.size;
}

/** What a read may also be bounded by: the run's deadline or signal. */
export interface ReadLimits {
  maxBytes: number;
  tooLarge?: (size: number) => SideloadError;
  /** Abort the read (Ctrl-C, the run's deadline): it never outlives the run. */
  signal?: AbortSignal | undefined;
}

/**
 * Read a regular file of at most `maxBytes`. The path is checked first (for a message about it),
 * then opened without blocking and checked again on the open handle, so a path swapped for a
 * FIFO or a device in between is refused rather than read forever; the cap is checked on the
 * size and again on the bytes read, so a file that grows while it is read is still refused.
 */
export async function readRegularFile(file: string, rules: RegularFileRules & ReadLimits): Promise<Buffer> {
  const tooLarge =
    rules.tooLarge ??
    ((size: number) =>
      new SideloadError(
        "FILE_UNREADABLE",
        `${file}: the ${rules.what} is ${size} bytes, more than the ${rules.maxBytes} this tool reads`,
        { hint: rules.hint },
      ));
  const size = await checkRegularFile(file, rules);
  if (size > rules.maxBytes) throw tooLarge(size);
  let handle;
  try {
    rules.signal?.throwIfAborted();
    // O_NONBLOCK: opening a FIFO read-only would otherwise wait for a writer.
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
    if (!(await handle.stat()).isFile()) {
      throw new SideloadError("FILE_UNREADABLE", `${file}: the ${rules.what} is not a regular file`, {
        hint: rules.hint,
      });
    }
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      rules.signal?.throwIfAborted();
      const chunk = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > rules.maxBytes) throw tooLarge(length);
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, length);
  } catch (error) {
    if (error instanceof SideloadError || rules.signal?.aborted) throw error;
    throw new SideloadError(
      "FILE_UNREADABLE",
      `${file}: cannot read the ${rules.what}: ${describeFsError(error)}`,
      { hint: rules.hint, cause: error },
    );
  } finally {
    await handle?.close();
  }
}

/** Read a regular text file of at most `maxBytes` (UTF-8), by the rules of `readRegularFile`. */
export async function readTextFile(file: string, rules: RegularFileRules & ReadLimits): Promise<string> {
  return (await readRegularFile(file, rules)).toString("utf8");
}

/** The words for what a non-regular file is, for "the X is …, not a regular file". */
function kindOf(info: Stats): string {
  return info.isDirectory()
    ? "a folder"
    : info.isFIFO()
      ? "a named pipe"
      : info.isCharacterDevice() || info.isBlockDevice()
        ? "a device"
        : info.isSocket()
          ? "a socket"
          : "a special file";
}

/**
 * `readTextFile`'s rules, synchronously, for the few readers that must stay synchronous (the
 * ssh configuration is opened while the command line is read): a regular file (checked on the
 * open handle, opened without blocking), at most `maxBytes`.
 */
export function readTextFileSync(file: string, rules: RegularFileRules & { maxBytes: number }): string {
  const fail = (code: "FILE_NOT_FOUND" | "FILE_UNREADABLE", why: string, cause?: unknown) =>
    new SideloadError(code, `${file}: ${why}`, { hint: rules.hint, cause });
  let fd: number | undefined;
  try {
    const info = statSync(file);
    if (!info.isFile())
      throw fail("FILE_UNREADABLE", `the ${rules.what} is ${kindOf(info)}, not a regular file`);
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
    const size = fstatSync(fd).isFile() ? fstatSync(fd).size : -1;
    if (size < 0) throw fail("FILE_UNREADABLE", `the ${rules.what} is not a regular file`);
    const tooLarge = (n: number) =>
      fail(
        "FILE_UNREADABLE",
        `the ${rules.what} is ${n} bytes, more than the ${rules.maxBytes} this tool reads`,
      );
    if (size > rules.maxBytes) throw tooLarge(size);
    const buffer = Buffer.alloc(rules.maxBytes + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > rules.maxBytes) throw tooLarge(length);
    }
    return buffer.subarray(0, length).toString("utf8");
  } catch (error) {
    if (error instanceof SideloadError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw fail(
      code === "ENOENT" || code === "ENOTDIR" ? "FILE_NOT_FOUND" : "FILE_UNREADABLE",
      `cannot read the ${rules.what}: ${describeFsError(error)}`,
      error,
    );
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Check, before anything is changed, that an output file can be written where it is asked
 * for: its folder must exist (and be a folder), and the path must be absent or a regular file.
 * A symbolic link, a FIFO, a device or a folder is refused: the tool may run as root in a
 * shared folder, where a planted link would turn a report into an overwrite of another file.
 *
 * @param what e.g. "report" or "--report"; named in the message
 */
export async function checkWritableOutput(file: string, what: string): Promise<void> {
  const hint = `give ${what} a path in an existing folder, to a new file or a regular file`;
  const folder = dirname(resolve(file));
  const dir = await stat(folder).catch((error: unknown) => error as NodeJS.ErrnoException);
  if (dir instanceof Error) {
    throw new SideloadError(
      dir.code === "ENOENT" || dir.code === "ENOTDIR" ? "DIR_NOT_FOUND" : "FILE_NOT_WRITABLE",
      `${file}: cannot write the ${what}: the folder ${folder} ${dir.code === "ENOENT" ? "does not exist" : describeFsError(dir)}`,
      { hint },
    );
  }
  if (!dir.isDirectory()) {
    throw new SideloadError("DIR_NOT_FOUND", `${file}: cannot write the ${what}: ${folder} is not a folder`, {
      hint,
    });
  }
  const target = await lstat(file).catch((error: unknown) => error as NodeJS.ErrnoException);
  if (target instanceof Error) {
    if (target.code === "ENOENT") return;
    throw new SideloadError(
      "FILE_NOT_WRITABLE",
      `${file}: cannot write the ${what}: ${describeFsError(target)}`,
      { hint },
    );
  }
  if (!target.isFile()) {
    const kind = target.isSymbolicLink()
      ? "a symbolic link"
      : target.isDirectory()
        ? "a folder"
        : target.isFIFO()
          ? "a named pipe"
          : target.isSocket()
            ? "a socket"
            : "a device";
    throw new SideloadError(
      "FILE_NOT_WRITABLE",
      `${file}: the ${what} path is ${kind}; this tool writes only regular files and never through a link`,
      { hint },
    );
  }
}

/**
 * Write `data` to `file` through a new temporary file in the same folder and a rename over
 * `file`: the rename replaces a symbolic link planted at `file` instead of following it, a
 * crash never leaves half a file, and readers see the old or the new content whole. The
 * target is checked as `checkWritableOutput` does first (a FIFO or a folder is refused).
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: { mode: number; what: string },
): Promise<void> {
  await checkWritableOutput(file, options.what);
  // node:crypto loaded here, not at start: a command that writes no file (inspect) never pays for it.
  const { randomBytes } = await import("node:crypto");
  const temporary = join(dirname(file), `.${basename(file)}.mp-sideload-${randomBytes(6).toString("hex")}`);
  try {
    // wx: O_CREAT|O_EXCL, so a link planted at the temporary name is not followed either.
    await writeFile(temporary, data, { mode: options.mode, flag: "wx" });
    await chmod(temporary, options.mode); // the umask may have narrowed it
    await renameOver(temporary, file);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    if (error instanceof SideloadError) throw error;
    throw new SideloadError(
      "FILE_NOT_WRITABLE",
      `${file}: cannot write the ${options.what}: ${describeFsError(error)}`,
      { hint: `check the permissions of ${dirname(resolve(file))}`, cause: error },
    );
  }
}

/**
 * The user's home folder as OpenSSH takes it: `HOME` when it is an absolute path, else the
 * password database's entry (an empty or relative `HOME` would put `~/.ssh/known_hosts` in
 * the working folder, where anyone who can write there could plant trusted keys). On Windows,
 * `USERPROFILE`, where OpenSSH for Windows and Docker Desktop keep `.ssh` and `.docker`.
 */
export function homeDir(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  if (platform === "win32") {
    const profile = env.USERPROFILE;
    if (profile !== undefined && win32.isAbsolute(profile) && /^([A-Za-z]:|\\\\)/.test(profile))
      return profile;
  } else {
    const home = env.HOME;
    if (home !== undefined && posix.isAbsolute(home)) return home;
  }
  try {
    return userInfo().homedir;
  } catch {
    return homedir();
  }
}

/**
 * Where a program is on PATH, as the shell (or, on Windows, the docker CLI and cmd.exe) finds
 * it: PATH split on `:` (`;` on Windows), an empty entry meaning the working folder on POSIX;
 * on Windows only `NAME.exe` (Node runs a .bat or .cmd only through a shell, which mp-sideload
 * never uses for these programs). Undefined when none is found.
 */
export function findOnPath(
  name: string,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  isFile: (path: string) => boolean = isRegularFile,
): string | undefined {
  const windows = platform === "win32";
  // On Windows the variable's name is case-insensitive (Path, PATH); a copied env is not.
  const value = windows
    ? (Object.entries(env).find(([key]) => key.toUpperCase() === "PATH")?.[1] ?? "")
    : (env.PATH ?? "/usr/bin:/bin");
  for (const dir of value.split(windows ? ";" : ":")) {
    if (windows && dir === "") continue;
    const candidate = windows
      ? win32.join(dir.replace(/^"(.*)"$/, "$1"), `${name}.exe`)
      : posix.join(dir || ".", name);
    if (isFile(candidate)) return candidate;
  }
  return undefined;
}

function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The errno codes with which Windows refuses to rename over a file another process has open. */
const windowsBusy = new Set(["EPERM", "EACCES", "EBUSY"]);

/**
 * `rename(from, to)`, retried on Windows while another process (an editor, a virus scanner, the
 * search indexer) holds `to` open: Windows refuses the rename with EPERM, EACCES or EBUSY until
 * it lets go, usually within a second. After the last try, a SideloadError that says so.
 */
export async function renameOver(
  from: string,
  to: string,
  options: {
    platform?: NodeJS.Platform;
    rename?: (from: string, to: string) => Promise<void>;
    delaysMs?: readonly number[];
  } = {},
): Promise<void> {
  const move = options.rename ?? rename;
  const delays =
    (options.platform ?? process.platform) === "win32"
      ? (options.delaysMs ?? [50, 100, 200, 400, 800, 1600])
      : [];
  for (let attempt = 0; ; attempt++) {
    try {
      return await move(from, to);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "";
      const delay = delays[attempt];
      if (!windowsBusy.has(code) || delays.length === 0) throw error;
      if (delay === undefined) {
        throw new SideloadError(
          "FILE_NOT_WRITABLE",
          `${to}: cannot replace it: another program keeps it open (${code} after ${attempt + 1} tries)`,
          {
            hint: `close what has ${basename(to)} open (an editor, a viewer), or write to another file`,
            cause: error,
          },
        );
      }
      await sleep(delay);
    }
  }
}
