/**
 * The command-line mistakes of a real run: the built binary in a real terminal (tmux) with
 * `--registry-password-stdin` and nothing redirected is refused at once (it used to wait
 * silently and echo the password), before any proxy is contacted; `--json` still writes its one
 * document; a mistyped option of a real pipeline run names the nearest one.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { tmuxTerminal } from "../support/tmux.js";
import { runCli } from "./cli.js";
import { bin, inventoryArgs, loadLab, sshdLog, type Lab } from "./lab.js";

const { tmux, waitForScreen, stop, shutdown } = tmuxTerminal("mistakes", "m");

let lab: Lab;
let scratch: string;

beforeAll(async () => {
  lab = loadLab();
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-mistakes-"));
});

afterEach(async () => {
  await stop();
});

afterAll(async () => {
  await shutdown();
  await rm(scratch, { recursive: true, force: true });
});

describe("a terminal on stdin", () => {
  it("refuses --registry-password-stdin at once, contacts no proxy, and --json still writes the error", async () => {
    const sshdBefore = (await sshdLog(lab, 1)).length;
    const out = join(scratch, "out.json");
    const script = join(scratch, "run.sh");
    // stdin is tmux's terminal; stdout goes to a file, as in `… --json > report.json`.
    const args = [lab.paks.sample, ...inventoryArgs(lab), "--limit", "proxy-1", "--registry-password-stdin"];
    await writeFile(
      script,
      `#!/bin/sh\nunset CI\n'${bin}' pull ${args.map((a) => `'${a}'`).join(" ")} --json > '${out}'\n` +
        `echo "EXIT=$?"\nsleep 600\n`,
      { mode: 0o755 },
    );
    const started = Date.now();
    await tmux("new-session", "-d", "-s", "m", "-x", "200", "-y", "50", script);
    const screen = await waitForScreen(/EXIT=\d+/, 15_000);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(screen).toContain(
      "mp-sideload: USAGE: --registry-password-stdin reads stdin, and stdin is a terminal: the secret would show as typed",
    );
    expect(screen).toContain(
      "hint: leave --registry-password-stdin out and answer the masked prompt, or redirect a file",
    );
    expect(screen).toContain("EXIT=2");
    expect(JSON.parse(await readFile(out, "utf8"))).toMatchObject({
      command: "pull",
      error: { code: "USAGE" },
    });
    expect((await sshdLog(lab, 1)).length).toBe(sshdBefore);
  });
});

describe("in a pipeline", () => {
  it("names the nearest option and contacts no proxy; the --json document parses", async () => {
    const sshdBefore = (await sshdLog(lab, 1)).length;
    const run = await runCli([
      "verify",
      lab.paks.sample,
      ...inventoryArgs(lab),
      "--limt",
      "proxy-1",
      "--json",
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("mp-sideload: USAGE: verify: unknown option --limt\n");
    expect(run.stderr).toContain("hint: did you mean --limit? ");
    expect(JSON.parse(run.stdout)).toMatchObject({ command: "verify", error: { code: "USAGE" } });
    expect((await sshdLog(lab, 1)).length).toBe(sshdBefore);
  });
});
