/**
 * Piped output (what a pipeline sees) carries no escape sequences, from any command: no colour,
 * no spinner, no cursor movement.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./cli.js";
import { loadLab, inventoryArgs, type Lab, registryEnv } from "./lab.js";

let lab: Lab;
beforeAll(() => {
  lab = loadLab();
});

describe("piped output", () => {
  it("has no escape sequence from any command, success or failure", async () => {
    const targets = inventoryArgs(lab);
    const env = registryEnv(lab);
    const runs = [
      ["--help"],
      [],
      ["inspect", lab.paks.sample],
      ["check-registry", lab.paks.sample],
      ["check-registry", lab.paks.untrusted],
      ["pull", lab.paks.sample, ...targets, "--dry-run"],
      ["pull", lab.paks.sample, ...targets],
      ["verify", lab.paks.missing, ...targets],
      ["doctor", ...targets, "--pak", lab.paks.sample],
      ["pull", "/nonexistent.pak", ...targets],
    ];
    for (const args of runs) {
      const run = await runCli(args, { env });
      expect(`${run.stdout}${run.stderr}`, args.join(" ")).not.toContain("\u001b");
      expect(`${run.stdout}${run.stderr}`.length, args.join(" ")).toBeGreaterThan(0);
    }
  });
});
