import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { parseInventory } from "../../src/inventory/load-inventory.js";
import { startTestOps, type TestOps } from "../support/ops-simulator.js";
import { captureTerminal } from "../support/terminal.js";

let ops: TestOps;
let dir: string;
beforeAll(async () => {
  ops = await startTestOps();
  dir = mkdtempSync(join(tmpdir(), "proxies-cmd-"));
});
afterAll(async () => {
  await ops.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function proxies(args: string[], env: NodeJS.ProcessEnv = {}, stdin?: string) {
  const t = captureTerminal({
    env: { MP_SIDELOAD_OPS_USER: ops.user, MP_SIDELOAD_OPS_PASSWORD: ops.password, ...env },
    ...(stdin === undefined ? {} : { stdin }),
  });
  const code = await main(["proxies", ...args], t.terminal);
  return { code, stdout: t.stdout(), stderr: t.stderr() };
}

describe("mp-sideload proxies", () => {
  it("lists what Ops knows as JSON, the same for both releases", async () => {
    const runs = await Promise.all(
      ["vcf9", "aria8"].map((i) =>
        proxies(["--ops", `${ops.url}/${i}`, "--ops-ca", ops.caFile, "--kind", "LabAdapter", "--json"]),
      ),
    );
    const docs = runs.map((r) => {
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout) as {
        collectors: { name: string; cloudProxy: boolean; groups: string[]; instances: { name: string }[] }[];
      };
    });
    const gist = (d: (typeof docs)[number]) =>
      d.collectors.map((c) => [c.name, c.cloudProxy, c.groups, c.instances.map((i) => i.name)]);
    expect(gist(docs[0] ?? { collectors: [] })).toEqual([
      ["vcf-ops-node-1", false, [], ["lab-on-node"]],
      ["cp-east-1", true, ["east-group"], ["lab-east"]],
      ["cp-east-2", true, ["east-group"], ["lab-east"]],
      ["cp-west-1", true, ["west-group"], []],
    ]);
    expect(gist(docs[1] ?? { collectors: [] })).toEqual(gist(docs[0] ?? { collectors: [] }));
    expect(docs[0]?.collectors[1]).toMatchObject({
      host: "cp-east-1.mp-sideload.test",
      type: "CLOUD_PROXY",
      state: "UP",
    });
  });

  it("writes the cloud proxies as a native inventory, collector groups as groups, never over a file", async () => {
    const file = join(dir, "ops.yaml");
    const run = await proxies([
      "--ops",
      `${ops.url}/aria8`,
      "--ops-ca",
      ops.caFile,
      "--write-inventory",
      file,
    ]);
    expect(run.code).toBe(0);
    const inventory = await parseInventory(readFileSync(file, "utf8"), file, "root");
    expect(inventory.map((p) => [p.name, p.host, p.groups])).toEqual([
      ["cp-east-1", "cp-east-1.mp-sideload.test", ["east-group"]],
      ["cp-east-2", "cp-east-2.mp-sideload.test", ["east-group"]],
      ["cp-west-1", "cp-west-1.mp-sideload.test", ["west-group"]],
    ]);
    const again = await proxies([
      "--ops",
      `${ops.url}/aria8`,
      "--ops-ca",
      ops.caFile,
      "--write-inventory",
      file,
    ]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/never replaced/);
  });

  it("escapes control characters in Ops' names in the table and the JSON", async () => {
    for (const json of [false, true]) {
      const run = await proxies([
        "--ops",
        `${ops.url}/hostile-name`,
        "--ops-ca",
        ops.caFile,
        "--kind",
        "LabAdapter",
        ...(json ? ["--json"] : []),
      ]);
      expect(run.code).toBe(0);
      // eslint-disable-next-line no-control-regex
      expect(run.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
      expect(run.stdout).toContain("\\u001b");
    }
  });

  it("takes the password on stdin with --ops-user", async () => {
    const run = await proxies(
      ["--ops", ops.url, "--ops-ca", ops.caFile, "--ops-user", ops.user, "--ops-password-stdin"],
      { MP_SIDELOAD_OPS_USER: "", MP_SIDELOAD_OPS_PASSWORD: "" },
      `${ops.password}\n`,
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^NAME +HOST +TYPE +STATE +GROUPS/);
  });

  it.each([
    [
      "a wrong password",
      ["--ops", "URL/vcf9"],
      { MP_SIDELOAD_OPS_PASSWORD: "wrong-password-123" },
      /OPS_UNAUTHORIZED/,
    ],
    [
      "no password and no terminal",
      ["--ops", "URL"],
      { MP_SIDELOAD_OPS_PASSWORD: "" },
      /CREDENTIALS_MISSING.*no password/,
    ],
    ["an untrusted CA", ["--ops", "URL", "--no-ca"], {}, /OPS_UNTRUSTED_CA.*\n.*--ops-ca/],
    ["--collector-group without --ops", ["--collector-group", "east-group"], {}, /USAGE.*need --ops/],
    ["a CA file that is no PEM", ["--ops", "URL", "--ops-ca", "BADCA"], {}, /--ops-ca .*: not PEM/],
  ] as [string, string[], NodeJS.ProcessEnv, RegExp][])("%s → exit 2", async (_what, args, env, message) => {
    const bad = join(dir, "bad.pem");
    writeFileSync(bad, "not a certificate");
    const withCa = args.includes("--no-ca") || args.includes("--ops-ca") ? [] : ["--ops-ca", ops.caFile];
    const argv = [...args.filter((a) => a !== "--no-ca"), ...withCa].map((a) =>
      a.replace("URL", ops.url).replace("BADCA", bad),
    );
    const run = await proxies(argv, env);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe("");
    for (const secret of [ops.password, "wrong-password-123"]) expect(run.stderr).not.toContain(secret);
  });
});
