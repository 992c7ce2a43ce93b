import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { opsTargetsFor, opsUrlOf } from "../../src/cli/ops-options.js";
import type { Proxy } from "../../src/inventory/proxy.js";
import { startTestOps, type TestOps } from "../support/ops-simulator.js";
import { captureTerminal } from "../support/terminal.js";

let ops: TestOps;
beforeAll(async () => {
  ops = await startTestOps();
});
afterAll(async () => {
  await ops.stop();
});

describe("opsTargetsFor: --ops as the lead wires it into pull/verify/doctor", () => {
  const terminal = () =>
    captureTerminal({ env: { MP_SIDELOAD_OPS_USER: ops.user, MP_SIDELOAD_OPS_PASSWORD: ops.password } })
      .terminal;

  it("gives Proxy[] with Ops state and reason, and inventory details for the proxies it also lists", async () => {
    const inventory: Proxy[] = [
      { name: "cp-east-2", host: "192.0.2.2", port: 2202, user: "admin", groups: ["lab"] },
    ];
    const { proxies, groups } = await opsTargetsFor(
      `${ops.url}/aria8`,
      { "ops-ca": ops.caFile },
      ["LabAdapter"],
      terminal(),
      { user: "root", userGiven: false, inventory },
    );
    expect(proxies.map((p) => [p.name, p.host, p.port, p.user, p.groups, p.opsState, p.defaulted])).toEqual([
      ["cp-east-1", "cp-east-1.mp-sideload.test", 22, "root", ["east-group"], "UP", ["user", "port"]],
      ["cp-east-2", "192.0.2.2", 2202, "admin", ["east-group", "lab"], "DOWN", undefined],
    ]);
    expect(proxies[0]?.reason).toBe('east-group holds LabAdapter instance "lab-east"');
    expect(groups.map((g) => g.name)).toEqual(["east-group"]);
  });

  it("--collector-group and --ops-all, and a first install without either refused", async () => {
    const base = { "ops-ca": ops.caFile };
    const ssh = { user: "root", userGiven: true };
    const west = await opsTargetsFor(
      ops.url,
      { ...base, "collector-group": ["west-group"] },
      ["NewAdapter"],
      terminal(),
      ssh,
    );
    expect(west.proxies.map((p) => p.name)).toEqual(["cp-west-1"]);
    const all = await opsTargetsFor(ops.url, { ...base, "ops-all": true }, ["NewAdapter"], terminal(), ssh);
    expect(all.proxies.map((p) => p.name)).toEqual(["cp-east-1", "cp-east-2", "cp-west-1"]);
    await expect(opsTargetsFor(ops.url, base, ["NewAdapter"], terminal(), ssh)).rejects.toMatchObject({
      code: "OPS_NO_INSTANCES",
      exitStatus: 2,
    });
  });

  it("takes MP_SIDELOAD_OPS_URL, and refuses --collector-group without a URL", () => {
    expect(opsUrlOf({}, { MP_SIDELOAD_OPS_URL: "https://ops.example" })).toBe("https://ops.example");
    expect(opsUrlOf({}, {})).toBeUndefined();
    expect(() => opsUrlOf({ "ops-all": true }, {})).toThrow(/need --ops URL/);
  });
});
