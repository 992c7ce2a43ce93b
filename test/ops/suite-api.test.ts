import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SideloadError } from "../../src/errors.js";
import { readOpsView, resolveOpsProxies } from "../../src/ops/ops-source.js";
import { SuiteApiClient, parseOpsUrl, type OpsConnection } from "../../src/ops/suite-api.js";
import { startTestOps, type TestOps } from "../support/ops-simulator.js";

let ops: TestOps;
beforeAll(async () => {
  ops = await startTestOps();
});
afterAll(async () => {
  await ops.stop();
});

function connection(instance: string, extra: Partial<OpsConnection> = {}): OpsConnection {
  return {
    url: `${ops.url}/${instance}`,
    user: ops.user,
    password: ops.password,
    ca: ops.ca,
    env: {},
    ...extra,
  };
}

async function failure(promise: Promise<unknown>): Promise<SideloadError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SideloadError);
  return error as SideloadError;
}

describe("the Suite API client against the simulator", () => {
  it.each(["vcf9", "aria8"])(
    "%s: reads collectors, groups and instances, and releases its token",
    async (instance) => {
      const debug: string[] = [];
      const before = ops.stats[instance]?.released ?? 0;
      const view = await readOpsView(connection(instance, { onDebug: (m) => debug.push(m) }), ["LabAdapter"]);
      expect(view.collectors.map((c) => c.name)).toEqual([
        "vcf-ops-node-1",
        "cp-east-1",
        "cp-east-2",
        "cp-west-1",
      ]);
      expect(view.groups.map((g) => [g.name, g.memberIds])).toEqual([
        ["east-group", ["2", "3"]],
        ["west-group", ["4"]],
      ]);
      expect(view.instances.map((i) => i.name)).toEqual(["lab-east", "lab-on-node"]);
      expect(ops.stats[instance]?.released).toBe(before + 1);
      // The older release takes only vRealizeOpsToken: one 401, then that scheme for the rest.
      const retries = debug.filter((l) => l.includes("trying vRealizeOpsToken")).length;
      expect(retries).toBe(instance === "aria8" ? 1 : 0);
      expect(debug.join("\n")).not.toContain(ops.password);
    },
  );

  it("both releases give the same targets", async () => {
    const nine = await resolveOpsProxies(connection("vcf9"), { kinds: ["LabAdapter"] });
    const eight = await resolveOpsProxies(connection("aria8"), { kinds: ["LabAdapter"] });
    const strip = (t: typeof nine) => t.proxies.map(({ type: _t, ...p }) => p);
    expect(strip(nine)).toEqual(strip(eight));
    expect(nine.proxies.map((p) => p.name)).toEqual(["cp-east-1", "cp-east-2"]);
  });

  it.each([
    ["wrong password", "OPS_UNAUTHORIZED", ["vcf9", { password: "not-the-password" }], /ops-admin.*refused/],
    ["unknown auth source", "OPS_UNAUTHORIZED", ["vcf9", { authSource: "corp-ldap" }], /corp-ldap/],
    ["token refused by both schemes", "OPS_UNAUTHORIZED", ["e401", {}], /token was refused/],
    ["403", "OPS_FORBIDDEN", ["e403", {}], /may not read collector groups/],
    ["404", "OPS_API_FAILED", ["e404", {}], /HTTP 404/],
    ["500", "OPS_API_FAILED", ["e500", {}], /HTTP 500/],
    ["a slow answer", "OPS_UNREACHABLE", ["slow", { timeoutMs: 500 }], /timeout/],
    [
      "a redirect (the password is not re-sent)",
      "OPS_API_FAILED",
      ["redirect", {}],
      /redirected \(HTTP 307\) to "https:\/\/collector\.invalid/,
    ],
    ["a CA not trusted", "OPS_UNTRUSTED_CA", ["vcf9", { ca: undefined }], /not trusted/],
    ["a hostName that is no host", "OPS_INVALID", ["hostile-host", {}], /collector\[0\]\.hostName/],
    ["an answer over the size cap", "OPS_INVALID", ["vcf9", { maxBytes: 200 }], /larger than 200 bytes/],
  ] as [string, string, [string, Partial<OpsConnection>], RegExp][])(
    "%s → %s",
    async (_what, code, [instance, extra], message) => {
      const error = await failure(readOpsView(connection(instance, extra), ["LabAdapter"]));
      expect(error.code).toBe(code);
      expect(error.exitStatus).toBe(2);
      expect(error.message).toMatch(message);
      expect(`${error.message} ${error.hint ?? ""}`).not.toContain(ops.password);
      if (code === "OPS_UNTRUSTED_CA") expect(error.hint).toContain("--ops-ca");
    },
  );

  it("tells refused and DNS apart", async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const refused = await failure(
      SuiteApiClient.open({ ...connection("vcf9"), url: `https://127.0.0.1:${port}` }),
    );
    expect([refused.code, refused.message]).toEqual([
      "OPS_UNREACHABLE",
      expect.stringMatching(/connection refused/),
    ]);
    const dns = await failure(
      SuiteApiClient.open({ ...connection("vcf9"), url: "https://no-such-host.invalid" }),
    );
    expect([dns.code, dns.message]).toEqual(["OPS_UNREACHABLE", expect.stringMatching(/not found \(DNS\)/)]);
  });

  it("escapes control characters of names where printed, and keeps them in data", async () => {
    const { proxies } = await resolveOpsProxies(connection("hostile-name"), { kinds: ["LabAdapter"] });
    expect(proxies[0]?.name).toBe("cp-\u001b[31mred\u001b[0m");
    // eslint-disable-next-line no-control-regex
    expect(proxies[0]?.reason).not.toMatch(/[\u0000-\u001f]/);
    expect(proxies[0]?.reason).toContain("\\u001b");
  });

  it("refuses URLs that are not plain https", () => {
    expect(parseOpsUrl("ops.example.com/suite-api/").href).toBe("https://ops.example.com/");
    for (const bad of ["http://ops", "https://u:p@ops", "https://ops?x=1", "::"]) {
      expect(() => parseOpsUrl(bad)).toThrow(SideloadError);
    }
  });
});
