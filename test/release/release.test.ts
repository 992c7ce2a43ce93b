/**
 * The release's artefacts against the compiled tree: the same output, exit status and errors
 * for inspect and for mistakes; `--version` with the version and the commit; `inspect`
 * evaluating none of ssh2, dockerode or inquirer (V8's coverage of the run lists each package
 * the loader compiled, see scripts/release.ts), while a command that connects does; the SHA-256
 * file and the notices matching what was built.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseDir, root } from "../../scripts/release-inputs.js";
import { buildTimeoutMs, copiedRelease, run, type Copied } from "./artefacts.js";

const bin = join(root, "bin/mp-sideload");
const fixtures = join(root, "fixtures");
let release: Copied;

beforeAll(async () => {
  release = await copiedRelease();
}, buildTimeoutMs);
afterAll(async () => {
  await release.close();
});

/** The scripts that ran in a process, by name, from the coverage V8 wrote for it. */
async function scriptsRun(command: string[], args: string[], path: string): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), "mp-sideload-coverage-"));
  try {
    await run(command, args, { path, env: { NODE_V8_COVERAGE: dir } });
    const names: string[] = [];
    for (const file of await readdir(dir)) {
      const { result } = JSON.parse(await readFile(join(dir, file), "utf8")) as {
        result: { url: string; functions: { ranges: { count: number }[] }[] }[];
      };
      for (const script of result)
        if ((script.functions[0]?.ranges[0]?.count ?? 0) > 0) names.push(script.url);
    }
    return names;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const sameAsTheTree: [string, string[]][] = [
  ["inspect --json", ["inspect", join(fixtures, "sample.pak"), "--json"]],
  ["inspect, human", ["inspect", join(fixtures, "two-adapters.pak")]],
  ["a pak that is not a zip", ["inspect", join(fixtures, "not-a-zip.pak"), "--json"]],
  ["a missing pak", ["inspect", join(fixtures, "no-such.pak")]],
  ["an unknown command", ["inspekt", "x.pak"]],
  ["an unknown option", ["pull", join(fixtures, "sample.pak"), "--proxyy", "h"]],
  ["pull with no target", ["pull", join(fixtures, "sample.pak"), "--json"]],
  ["--help", ["--help"]],
  ["pull --help", ["pull", "--help"]],
];

describe.each(["mp-sideload.mjs", "mp-sideload-linux-x64"])("%s", (name) => {
  const artefact = () => {
    const found = release.artefacts.find((a) => a.name === name);
    if (!found) throw new Error(`${name} is not built on ${process.platform}-${process.arch}`);
    return found;
  };

  it.each(sameAsTheTree)(
    "%s: the same stdout, stderr and exit status as bin/mp-sideload",
    async (_, args) => {
      const tree = await run([bin], args);
      const mine = await run(artefact().command, args, { path: artefact().path });
      expect(mine).toEqual(tree);
    },
  );

  it("--version prints package.json's version and the commit it was built from", async () => {
    const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string };
    const head = execFileSync("git", ["rev-parse", "--short=12", "HEAD"], {
      cwd: root,
      encoding: "utf8",
    }).trim();
    const out = await run(artefact().command, ["--version"], { path: artefact().path });
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(
      new RegExp(`^${pkg.version.replace(/\./g, "\\.")} \\(commit ${head}(\\+dirty)?\\)\n$`),
    );
  });

  it("inspect evaluates none of ssh2, dockerode, inquirer (or yaml, ora), where verify does load ssh2 and dockerode", async () => {
    const { command, path } = artefact();
    const inspect = await scriptsRun(command, ["inspect", join(fixtures, "sample.pak"), "--json"], path);
    // The program itself ran (the coverage sees it), and no package kept aside for later.
    expect(inspect.some((url) => url.includes(name.replace(/\.mjs$/, "")) || url.endsWith(".cjs"))).toBe(
      true,
    );
    expect(inspect.filter((url) => url.startsWith("mp-sideload:vendor/"))).toEqual([]);
    const verify = await scriptsRun(
      command,
      [
        "verify",
        join(fixtures, "sample.pak"),
        "--proxy",
        "127.0.0.1:1",
        "--known-hosts",
        "/dev/null",
        "--json",
      ],
      path,
    );
    expect(verify).toEqual(
      expect.arrayContaining(["mp-sideload:vendor/ssh2", "mp-sideload:vendor/dockerode"]),
    );
    expect(verify).not.toContain("mp-sideload:vendor/@inquirer/prompts");
  });
});

it("the .mjs runs from a folder with no node_modules above it", async () => {
  const mjs = release.artefacts.find((a) => a.name === "mp-sideload.mjs");
  expect(mjs?.command[1]?.startsWith(tmpdir())).toBe(true);
  const out = await run(mjs?.command ?? [], ["inspect", join(fixtures, "sample.pak"), "--json"], {
    cwd: release.dir,
  });
  expect(out.code, out.stderr).toBe(0);
  expect(JSON.parse(out.stdout)).toMatchObject({ pak: { name: "SampleAdapter" } });
});

it("the executable runs with no Node.js on PATH", () => {
  const exe = release.artefacts.find((a) => a.name === "mp-sideload-linux-x64");
  if (!exe) return;
  expect(spawnSync("sh", ["-c", "command -v node"], { env: { PATH: exe.path } }).status).not.toBe(0);
  const out = spawnSync(exe.command[0] ?? "", ["inspect", join(fixtures, "sample.pak"), "--json"], {
    env: { PATH: exe.path },
    encoding: "utf8",
  });
  expect(out.status, out.stderr).toBe(0);
  expect(out.stderr).toBe("");
});

it("SHA256SUMS lists every artefact with its digest, as sha256sum -c checks it", async () => {
  const sums = await readFile(join(releaseDir, "SHA256SUMS"), "utf8");
  const names = sums
    .trim()
    .split("\n")
    .map((line) => line.split("  ")[1]);
  expect(names).toEqual(expect.arrayContaining(["mp-sideload.mjs", "THIRD-PARTY-NOTICES"]));
  if (process.platform === "linux" && process.arch === "x64")
    expect(names).toContain("mp-sideload-linux-x64");
  const check = spawnSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: releaseDir, encoding: "utf8" });
  expect(check.status, check.stdout + check.stderr).toBe(0);
});

it("THIRD-PARTY-NOTICES carries the licence of each card library and of Node.js", async () => {
  const notices = await readFile(join(releaseDir, "THIRD-PARTY-NOTICES"), "utf8");
  for (const name of [
    "ssh2",
    "dockerode",
    "docker-modem",
    "yauzl",
    "yaml",
    "ora",
    "@inquirer/prompts",
    "@inquirer/core",
  ])
    expect(notices).toMatch(new RegExp(`^${name.replace("/", "\\/")} \\d+\\.\\d+\\.\\d+ \\(`, "m"));
  expect(notices).toMatch(/^Node\.js v20\./m);
  // BuildKit's gRPC and protobuf are left out of the bundle, so their licences are not needed.
  expect(notices).not.toMatch(/^@grpc\//m);
  expect(notices).not.toMatch(/^protobufjs /m);
});
