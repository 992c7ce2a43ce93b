import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { goodFixtures, badFixtures } from "../../scripts/fixture-catalogue.js";
import { captureTerminal } from "../support/terminal.js";

const fixtures = join(import.meta.dirname, "../../fixtures");
const bin = join(import.meta.dirname, "../../bin/mp-sideload");

describe("mp-sideload inspect", () => {
  it("--json writes the design's document and nothing else on stdout", async () => {
    const t = captureTerminal();
    const code = await main(["inspect", join(fixtures, "two-adapters.pak"), "--json"], t.terminal);
    expect(code).toBe(0);
    const doc = JSON.parse(t.stdout()) as unknown;
    expect(doc).toEqual({
      pak: { file: join(fixtures, "two-adapters.pak"), name: "SampleAdapter", version: "1.0.0" },
      adapters: goodFixtures
        .find((f) => f.file === "two-adapters.pak")
        ?.references.map((reference, i) => ({
          kind: ["SampleAdapter", "OtherAdapter"][i],
          registry: reference.slice(0, reference.indexOf("/")),
          repository: reference.slice(reference.indexOf("/"), reference.indexOf("@")),
          digest: reference.slice(reference.indexOf("@") + 1),
          reference,
        })),
    });
    expect(t.stderr()).toBe("");
  });

  it("human output names kind, registry, repository, digest and reference", async () => {
    const t = captureTerminal();
    expect(await main(["inspect", join(fixtures, "sample.pak")], t.terminal)).toBe(0);
    expect(t.stdout()).toMatch(/adapter\s+SampleAdapter/);
    expect(t.stdout()).toMatch(/registry\s+harbor\.example\.com:8443/);
    expect(t.stdout()).toMatch(
      /reference\s+harbor\.example\.com:8443\/mp\/sample-adapter@sha256:[0-9a-f]{64}/,
    );
  });

  it.each(badFixtures)(
    "$file: exit 2, one line with $code and a hint, no stack; --json: the error as the document",
    async ({ file, code }) => {
      const t = captureTerminal();
      expect(await main(["inspect", join(fixtures, file), "--json"], t.terminal)).toBe(2);
      expect(JSON.parse(t.stdout())).toMatchObject({ command: "inspect", error: { code } });
      const lines = t.stderr().trimEnd().split("\n");
      expect(lines[0]).toMatch(new RegExp(`^mp-sideload: ${code}: .*${file.replace(".", "\\.")}`));
      expect(lines[1]).toMatch(/^ {2}hint: /);
      expect(lines).toHaveLength(2);
      expect(t.stderr()).not.toMatch(/\bat .*\.(ts|js):\d+/);
    },
  );

  it("--debug adds the stack trace", async () => {
    const t = captureTerminal();
    expect(await main(["inspect", join(fixtures, "empty.pak"), "--debug"], t.terminal)).toBe(2);
    expect(t.stderr()).toMatch(/\n\s+at .*read-pak/);
  });

  it.each([
    [["inspect"], "missing pak file"],
    [["inspect", "a.pak", "b.pak"], "expected one pak file"],
    [["inspect", "--nope"], "inspect: unknown option --nope"],
    [["frobnicate"], 'unknown command "frobnicate"'],
  ])("usage error %j exits 2", async (argv, message) => {
    const t = captureTerminal();
    expect(await main(argv, t.terminal)).toBe(2);
    expect(t.stderr()).toContain("USAGE");
    expect(t.stderr()).toContain(message);
  });

  it("inspect loads neither the SSH nor the Docker library (start-up stays lean)", async () => {
    const run = promisify(execFile);
    const script = `
      import { createRequire } from "node:module";
      const { main } = await import(${JSON.stringify(join(import.meta.dirname, "../../dist/cli/main.js"))});
      const code = await main(["inspect", ${JSON.stringify(join(fixtures, "sample.pak"))}, "--json"], { out() {}, err() {}, interactive: false, color: false, env: {}, readStdin: async () => "", signal: new AbortController().signal });
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify({ code, loaded }));`;
    const { stdout } = await run("node", ["--input-type=module", "-e", script]);
    const { code, loaded } = JSON.parse(stdout) as { code: number; loaded: string[] };
    expect(code).toBe(0);
    expect(loaded.some((f) => f.includes("/yauzl/"))).toBe(true); // the check sees CommonJS modules
    expect(loaded.filter((f) => /\/(ssh2|dockerode|docker-modem|@inquirer)\//.test(f))).toEqual([]);
  });

  it("the built binary runs inspect and sets the exit status", async () => {
    const run = promisify(execFile);
    const ok = await run(bin, ["inspect", join(fixtures, "sample.pak"), "--json"]);
    expect((JSON.parse(ok.stdout) as { adapters: unknown[] }).adapters).toHaveLength(1);
    await expect(run(bin, ["inspect", join(fixtures, "not-a-zip.pak")])).rejects.toMatchObject({ code: 2 });
  });
});
