/**
 * Reading the user's input files (pak, inventory, report, CA, known_hosts) with one set of rules:
 * only regular files (a FIFO or a device would block or never end), a size cap stated up front,
 * and an error that names the file and the cause in words.
 */
import { open, stat } from "node:fs/promises";
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
    const kind = info.isDirectory()
      ? "a folder"
      : info.isFIFO()
        ? "a named pipe"
        : info.isCharacterDevice() || info.isBlockDevice()
          ? "a device"
          : info.isSocket()
            ? "a socket"
            : "not a regular file";
    throw new SideloadError("FILE_UNREADABLE", `${file}: the ${rules.what} is ${kind}, not a regular file`, {
      hint: rules.hint,
    });
  }
  return info.size;
}

/**
 * Read a regular text file of at most `maxBytes` (UTF-8). The cap is checked on the size and
 * again on the bytes read, so a file that grows while it is read is still refused.
 */
export async function readTextFile(
  file: string,
  rules: RegularFileRules & { maxBytes: number; tooLarge?: (size: number) => SideloadError },
): Promise<string> {
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
    handle = await open(file, "r");
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > rules.maxBytes) throw tooLarge(length);
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, length).toString("utf8");
  } catch (error) {
    if (error instanceof SideloadError) throw error;
    throw new SideloadError(
      "FILE_UNREADABLE",
      `${file}: cannot read the ${rules.what}: ${describeFsError(error)}`,
      { hint: rules.hint, cause: error },
    );
  } finally {
    await handle?.close();
  }
}
