/**
 * Mistakes at the command line get a way forward, before anything connects: the nearest
 * command or option for a typo, why a secret option does not exist and what to use, a refusal
 * of `--registry-password-stdin` from a terminal, and with `--json` one JSON document on stdout
 * also when the run ends with exit 2.
 */
import net from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { refuseSecretFromTerminal } from "../../src/cli/args.js";
import { main } from "../../src/cli/main.js";
import { editDistance, nearest } from "../../src/nearest.js";
import { captureTerminal } from "../support/terminal.js";

const fixtures = join(import.meta.dirname, "../../fixtures");
const sample = join(fixtures, "sample.pak");

/** Counts every TCP connection made to it: a proxy that must never be contacted. */
let tripwire: net.Server;
let proxy: string;
let connections = 0;

beforeAll(async () => {
  tripwire = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((r) => tripwire.listen(0, "127.0.0.1", r));
  proxy = `root@127.0.0.1:${(tripwire.address() as net.AddressInfo).port}`;
});

afterAll(() => {
  tripwire.close();
});

async function run(args: string[], options: { stdinIsTerminal?: boolean } = {}) {
  let stdinRead = false;
  const t = captureTerminal(options);
  t.terminal.readStdin = () => {
    stdinRead = true;
    return Promise.resolve("hunter2-from-stdin");
  };
  const code = await main(args, t.terminal);
  return { code, stdout: t.stdout(), stderr: t.stderr(), stdinRead };
}

describe("nearest", () => {
  it.each([
    ["verfy", "verify"],
    ["inpsect", "inspect"],
    ["doctr", "doctor"],
    ["check-registy", "check-registry"],
    ["PULL", "pull"],
    ["deploy", undefined],
    ["x", undefined],
  ])("%s → %s", (word, expected) => {
    expect(nearest(word, ["inspect", "check-registry", "pull", "verify", "doctor"])).toBe(expected);
  });
  it("counts edits", () => {
    expect(editDistance("inventroy", "inventory")).toBe(2);
    expect(editDistance("", "abc")).toBe(3);
  });
});

describe("unknown commands and options", () => {
  it("names the nearest command", async () => {
    const r = await run(["verfy", sample, "--proxy", proxy]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('mp-sideload: USAGE: unknown command "verfy"');
    expect(r.stderr).toContain("hint: did you mean verify? run 'mp-sideload --help'");
  });

  it("offers nothing for a word that is no typo, and no Object.prototype member is a command", async () => {
    for (const name of ["deploy", "constructor", "__proto__", "toString"]) {
      const r = await run([name]);
      expect(r.code, name).toBe(2);
      expect(r.stderr, name).toContain(`USAGE: unknown command ${JSON.stringify(name)}`);
      expect(r.stderr, name).not.toContain("did you mean");
    }
  });

  it.each([
    ["pull", "--inventroy", "--inventory"],
    ["verify", "--concurency", "--concurrency"],
    ["doctor", "--knwon-hosts", "--known-hosts"],
    ["check-registry", "--registry-usr", "--registry-user"],
    ["inspect", "--jsno", "--json"],
  ])("%s %s: did you mean %s?", async (command, typo, option) => {
    const r = await run([command, sample, `${typo}=x.yaml`, "--proxy", proxy]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`USAGE: ${command}: unknown option ${typo}\n`);
    expect(r.stderr).toContain(`hint: did you mean ${option}? run 'mp-sideload ${command} --help'`);
    expect(connections).toBe(0);
  });
});

describe("secrets asked for as options", () => {
  const cases = [
    ["--registry-password", "--registry-password-stdin, MP_SIDELOAD_REGISTRY_PASSWORD or the prompt"],
    ["--ssh-password", "MP_SIDELOAD_SSH_PASSWORD or the prompt"],
    ["--ops-password", "--ops-password-stdin, MP_SIDELOAD_OPS_PASSWORD or the prompt"],
    ["--become-password", "--become-password-stdin, MP_SIDELOAD_BECOME_PASSWORD or the prompt"],
  ] as const;
  for (const command of ["pull", "verify", "doctor", "check-registry"]) {
    it.each(cases)(`${command} %s: says why there is none and what to use`, async (option, instead) => {
      for (const args of [[option, "hunter2-in-argv"], [`${option}=hunter2-in-argv`]]) {
        const r = await run([command, ...(command === "doctor" ? [] : [sample]), ...args, "--proxy", proxy]);
        expect(r.code).toBe(2);
        expect(r.stderr).toContain(
          `USAGE: ${command}: there is no ${option}: a ${option === "--become-password" ? "sudo " : ""}password in argv is visible to every user of this machine (ps)`,
        );
        expect(r.stderr).toContain(`hint: use ${instead}\n`);
        expect(r.stderr + r.stdout).not.toContain("hunter2");
      }
      expect(connections).toBe(0);
    });
  }
});

describe("--registry-password-stdin with a terminal on stdin", () => {
  it.each(["pull", "check-registry", "doctor"])(
    "%s refuses it before reading stdin or connecting",
    async (command) => {
      const r = await run(
        [
          command,
          ...(command === "doctor" ? ["--pak", sample] : [sample]),
          "--proxy",
          proxy,
          "--registry-password-stdin",
        ],
        { stdinIsTerminal: true },
      );
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(
        "USAGE: --registry-password-stdin reads stdin, and stdin is a terminal: the secret would show as typed",
      );
      expect(r.stderr).toContain(
        "hint: leave --registry-password-stdin out and answer the masked prompt, or redirect a file: --registry-password-stdin < secret.txt",
      );
      expect(r.stdinRead).toBe(false);
      expect(connections).toBe(0);
    },
  );

  it("lets a file or pipe on stdin through, and a terminal without the option", () => {
    const piped = captureTerminal({ stdinIsTerminal: false }).terminal;
    const tty = captureTerminal({ stdinIsTerminal: true }).terminal;
    expect(() => refuseSecretFromTerminal(["--registry-password-stdin"], piped)).not.toThrow();
    expect(() => refuseSecretFromTerminal(["--json", "--", "--registry-password-stdin"], tty)).not.toThrow();
    expect(() => refuseSecretFromTerminal(["--ops-password-stdin"], tty)).toThrow(
      /--ops-password-stdin reads stdin/,
    );
  });
});

describe("--json when the run ends with exit 2", () => {
  interface ErrorDocument {
    command: string;
    error: { code: string; message: string; hint?: string };
  }

  it.each([
    [["pull", join(fixtures, "does-not-exist.pak"), "--proxy", "cp-1", "--json"], "pull", "FILE_NOT_FOUND"],
    [["inspect", "--json", join(fixtures, "not-a-zip.pak")], "inspect", "PAK_NOT_ZIP"],
    [["verify", sample, "--json", "--inventroy", "x"], "verify", "USAGE"],
    [["doctor", "--json", "--proxy", proxy, "--registry-password", "hunter2"], "doctor", "USAGE"],
    [["verfy", "--json"], "verfy", "USAGE"],
  ])("%j prints one JSON document on stdout", async (args, command, code) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout) as ErrorDocument;
    expect(doc.command).toBe(command);
    expect(doc.error.code).toBe(code);
    expect(doc.error.message.length).toBeGreaterThan(5);
    expect(typeof doc.error.hint).toBe("string");
    expect(Object.keys(doc)).toEqual(["command", "error"]);
    expect(r.stdout).not.toContain("hunter2");
    // The human line is still on stderr.
    expect(r.stderr).toContain(`mp-sideload: ${code}: `);
    expect(connections).toBe(0);
  });

  it("keeps stdout empty without --json, and after a `--` a --json is a positional", async () => {
    expect((await run(["inspect", join(fixtures, "not-a-zip.pak")])).stdout).toBe("");
    expect((await run(["inspect", join(fixtures, "not-a-zip.pak"), "--", "--json"])).stdout).toBe("");
  });
});

describe("--running goes with verify --ops", () => {
  it.each([
    ["verify without VCF Operations", ["verify", sample, "--proxy", "PROXY", "--running"]],
    ["pull", ["pull", sample, "--proxy", "PROXY", "--running"]],
  ])("%s: USAGE, exit 2, no proxy contacted", async (_what, args) => {
    const before = connections;
    const r = await run(args.map((a) => (a === "PROXY" ? proxy : a)));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("mp-sideload: USAGE: --running is an option of verify --ops");
    expect(connections).toBe(before);
  });
});
