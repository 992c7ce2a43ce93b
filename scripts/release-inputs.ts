/**
 * What a release is built from, as one digest: every file under src/, the release scripts,
 * package.json, package-lock.json (the bundled dependencies' versions), the Node.js version
 * that makes the single executable, and the commit that `--version` names. `release/.inputs`
 * holds the digest of the last build; a test rebuilds when it differs (`releaseIsCurrent`).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";

export const root = join(import.meta.dirname, "..");
export const releaseDir = join(root, "release");

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(join(root, dir), { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
    .sort();
}

/** The commit built from, `+dirty` when tracked files differ from it; "unknown" outside git. */
export function commitOf(): string {
  try {
    const git = (...args: string[]) => execFileSync("git", args, { cwd: root, encoding: "utf8" }).trim();
    const commit = git("rev-parse", "--short=12", "HEAD");
    return git("status", "--porcelain", "--untracked-files=no") === "" ? commit : `${commit}+dirty`;
  } catch {
    return "unknown";
  }
}

/** The digest of the release's inputs (paths and contents). */
export async function inputsDigest(): Promise<string> {
  const scripts = (await readdir(join(root, "scripts")))
    .filter((f) => f.startsWith("release"))
    .map((f) => `scripts/${f}`);
  const files = [...(await filesUnder("src")), ...scripts.sort(), "package.json", "package-lock.json"];
  const hash = createHash("sha256").update(`node ${process.version}\ncommit ${commitOf()}\n`);
  for (const file of files)
    hash
      .update(`${file}\n`)
      .update(await readFile(join(root, file)))
      .update("\n");
  return hash.digest("hex");
}

/** True when release/ holds a build of exactly the current inputs. */
export async function releaseIsCurrent(): Promise<boolean> {
  const built = await readFile(join(releaseDir, ".inputs"), "utf8").catch(() => "");
  return built.trim() === (await inputsDigest());
}
