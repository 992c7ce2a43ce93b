/**
 * The release's artefacts for the tests: built by `npm run release`'s own function when
 * release/ is missing or was built from other inputs (so that README's one test command still
 * covers them), copied into a fresh folder with no node_modules or package.json anywhere above
 * it, and run the way a user runs them: the .mjs with `node`, the executable with a PATH that
 * holds no Node.js at all.
 */
import { spawn } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildRelease } from "../../scripts/release.js";
import { releaseDir, releaseIsCurrent } from "../../scripts/release-inputs.js";

/** How long a build may take on a busy 2-core machine (esbuild, brotli, the SEA's injection). */
export const buildTimeoutMs = 300_000;

export interface Artefact {
  name: "mp-sideload.mjs" | "mp-sideload-linux-x64";
  /** argv[0] and the arguments before the command's own. */
  command: string[];
  /** PATH for a run: the executable's holds only what the test links into it, never node. */
  path: string;
}

export interface Copied {
  dir: string;
  artefacts: Artefact[];
  close(): Promise<void>;
}

/** Build the release if needed, and copy its artefacts to a folder of their own. */
export async function copiedRelease(): Promise<Copied> {
  if (!(await releaseIsCurrent())) await buildRelease();
  const dir = await mkdtemp(join(tmpdir(), "mp-sideload-release-"));
  const noNode = join(dir, "bin-without-node");
  await mkdir(noNode);
  // The one program a run may start here: the ssh client, for `ssh -G`.
  await symlink("/usr/bin/ssh", join(noNode, "ssh")).catch(() => undefined);
  const artefacts: Artefact[] = [];
  await copyFile(join(releaseDir, "mp-sideload.mjs"), join(dir, "mp-sideload.mjs"));
  artefacts.push({
    name: "mp-sideload.mjs",
    command: [process.execPath, join(dir, "mp-sideload.mjs")],
    path: process.env.PATH ?? "/usr/bin:/bin",
  });
  if (process.platform === "linux" && process.arch === "x64") {
    await copyFile(join(releaseDir, "mp-sideload-linux-x64"), join(dir, "mp-sideload-linux-x64"));
    artefacts.push({
      name: "mp-sideload-linux-x64",
      command: [join(dir, "mp-sideload-linux-x64")],
      path: noNode,
    });
  }
  return { dir, artefacts, close: () => rm(dir, { recursive: true, force: true }) };
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run `command` + `args` in `cwd` with a clean environment (PATH, HOME, CI and `env`), stdin
 * closed (or `stdin`); killed after 120 s, so that a hang fails the test.
 */
export function run(
  command: string[],
  args: string[],
  options: { env?: Record<string, string>; path?: string; cwd?: string; stdin?: string } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0] ?? "", [...command.slice(1), ...args], {
      cwd: options.cwd ?? tmpdir(),
      env: {
        PATH: options.path ?? process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? "/root",
        CI: "true",
        ...options.env,
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    const guard = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("close", (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on("error", () => undefined); // a run that exits before it reads its input
    child.stdin.end(options.stdin ?? "");
  });
}
