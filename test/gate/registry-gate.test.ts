/**
 * The registry gate's policy over scripted checks: what a demand waits for, which verdicts stop
 * the run, when a terminal is asked again, and that a run that never demands never stops. The
 * checks themselves (the registry API) are tested against real registries in the lab.
 */
import { describe, expect, it } from "vitest";
import { CredentialResolver } from "../../src/credentials/resolve.js";
import type { ErrorCode } from "../../src/errors.js";
import type { RegistryPreflight } from "../../src/registry/preflight.js";
import { RegistryGate, type RegistryGateOptions } from "../../src/gate/registry-gate.js";

const image = {
  kind: "K",
  registry: "r1:443",
  repository: "/mp/a",
  digest: `sha256:${"a".repeat(64)}`,
  reference: `r1:443/mp/a@sha256:${"a".repeat(64)}`,
};
const resolver = new CredentialResolver({
  passwordStdin: false,
  env: {},
  readStdin: () => Promise.resolve(""),
});

type Verdict = "public" | "ok" | ErrorCode;

/** A check answering with each entry of `script` in turn: a source and a verdict. */
function scripted(script: { source: string; verdict?: Verdict; password?: string }[]) {
  const calls: boolean[] = [];
  const preflight: NonNullable<RegistryGateOptions["preflight"]> = (
    registry,
    _images,
    _resolver,
    options,
  ) => {
    calls.push(options.prompt);
    const step = script[Math.min(calls.length - 1, script.length - 1)] ?? { source: "none" };
    const status = step.verdict === "public" || step.verdict === "ok" ? step.verdict : "failed";
    const entry: RegistryPreflight = {
      registry,
      credentialSource: step.source,
      ...(step.password === undefined
        ? {}
        : { auth: { username: "u", password: step.password, serveraddress: registry } }),
      refresh: () => Promise.resolve({ username: "u", password: "fresh", serveraddress: registry }),
      verdicts:
        step.verdict === undefined
          ? []
          : [
              {
                reference: image.reference,
                registry,
                status,
                ...(status === "failed" ? { error: { code: step.verdict as ErrorCode, message: "no" } } : {}),
              },
            ],
    };
    return Promise.resolve(entry);
  };
  return { preflight, calls };
}

function gate(preflight: RegistryGateOptions["preflight"], extra: Partial<RegistryGateOptions> = {}) {
  const warnings: string[] = [];
  const g = new RegistryGate([image], {
    resolver,
    env: {},
    signal: new AbortController().signal,
    skipCheck: false,
    prompt: false,
    warn: (m) => warnings.push(m),
    preflight,
    ...extra,
  });
  return { g, warnings };
}

describe("RegistryGate", () => {
  it.each<[string, { source: string; verdict?: Verdict; password?: string }, string | undefined]>([
    ["a public registry: anonymous", { source: "anonymous", verdict: "public" }, undefined],
    ["accepted credentials", { source: "environment", verdict: "ok", password: "pw" }, "pw"],
    [
      "a registry this machine cannot reach: the proxies decide",
      { source: "environment", verdict: "REGISTRY_UNREACHABLE", password: "pw" },
      "pw",
    ],
  ])("%s", async (_what, step, password) => {
    const { g } = gate(scripted([step]).preflight);
    expect((await g.credentials("r1:443"))?.password).toBe(password);
    expect(g.refused.aborted).toBe(false);
  });

  it.each<[Verdict, string]>([
    ["REGISTRY_UNAUTHORIZED", "environment"],
    ["MANIFEST_UNKNOWN", "environment"],
    ["PLATFORM_MISSING", "anonymous"],
  ])("a demanded %s stops the run with exit 2, naming the workstation's check", async (verdict, source) => {
    const { g } = gate(scripted([{ source, verdict, password: "pw" }]).preflight);
    const error = await g.credentials("r1:443").catch((e: unknown) => e);
    expect(error).toMatchObject({ code: verdict, exitStatus: 2 });
    expect((error as Error).message).toContain("checked from this machine before any proxy logged in");
    expect(g.refused.aborted).toBe(true);
    expect(g.refused.reason).toBe(error);
  });

  it("no credentials and no terminal: CREDENTIALS_MISSING on demand only", async () => {
    const { g } = gate(scripted([{ source: "none", verdict: "REGISTRY_UNAUTHORIZED" }]).preflight);
    g.start();
    await new Promise((resolve) => setTimeout(resolve, 10));
    // Started but never demanded (every proxy held the image): the run goes on.
    expect(g.refused.aborted).toBe(false);
    expect(await g.summary()).toEqual([{ registry: "r1:443", credentialSource: "none", check: "unknown" }]);
    await expect(g.credentials("r1:443")).rejects.toMatchObject({ code: "CREDENTIALS_MISSING" });
    expect(g.refused.aborted).toBe(true);
  });

  it("in a terminal, asks when no source has credentials, and again after a refused password (three tries)", async () => {
    const { preflight, calls } = scripted([
      { source: "none", verdict: "REGISTRY_UNAUTHORIZED" },
      { source: "prompt", verdict: "REGISTRY_UNAUTHORIZED", password: "typo" },
      { source: "prompt", verdict: "REGISTRY_UNAUTHORIZED", password: "typo2" },
      { source: "prompt", verdict: "ok", password: "right" },
    ]);
    const { g, warnings } = gate(preflight, { prompt: true, promptTries: 3 });
    expect((await g.credentials("r1:443"))?.password).toBe("right");
    expect(calls).toEqual([false, true, true, true]);
    expect(warnings.filter((w) => w.includes("refused"))).toHaveLength(2);
  });

  it("a refused typed password after the last try stops the run", async () => {
    const { g } = gate(
      scripted([
        { source: "none", verdict: "REGISTRY_UNAUTHORIZED" },
        { source: "prompt", verdict: "REGISTRY_UNAUTHORIZED", password: "typo" },
      ]).preflight,
      { prompt: true, promptTries: 1 },
    );
    await expect(g.credentials("r1:443")).rejects.toMatchObject({
      code: "REGISTRY_UNAUTHORIZED",
      exitStatus: 2,
    });
  });

  it("checks each registry once, however many proxies ask, and shares one refresh", async () => {
    const { preflight, calls } = scripted([{ source: "environment", verdict: "ok", password: "pw" }]);
    const { g } = gate(preflight);
    g.start();
    await Promise.all([g.credentials("r1:443"), g.credentials("r1:443"), g.credentials("r1:443")]);
    expect(calls).toHaveLength(1);
    const fresh = await Promise.all([g.refresh("r1:443"), g.refresh("r1:443")]);
    expect(fresh.map((f) => f?.password)).toEqual(["fresh", "fresh"]);
    expect((await g.credentials("r1:443"))?.password).toBe("fresh");
  });
});

describe("RegistryGate with two registries", () => {
  it("the first demand settles both: a refusal of the other registry stops the run before any pull", async () => {
    const second = { ...image, registry: "r2:443", reference: image.reference.replace("r1:443", "r2:443") };
    const preflight: NonNullable<RegistryGateOptions["preflight"]> = (registry) =>
      Promise.resolve({
        registry,
        credentialSource: "environment",
        auth: { username: "u", password: "pw", serveraddress: registry },
        verdicts: [
          {
            reference: registry === "r1:443" ? image.reference : second.reference,
            registry,
            status: registry === "r1:443" ? "ok" : "failed",
            ...(registry === "r1:443"
              ? {}
              : { error: { code: "REGISTRY_UNAUTHORIZED" as const, message: "no" } }),
          },
        ],
      });
    const g = new RegistryGate([image, second], {
      resolver,
      env: {},
      signal: new AbortController().signal,
      skipCheck: false,
      prompt: false,
      warn: () => undefined,
      preflight,
    });
    await expect(g.credentials("r1:443")).rejects.toMatchObject({ code: "REGISTRY_UNAUTHORIZED" });
    expect(g.refused.aborted).toBe(true);
  });
});

describe("RegistryGate when this machine cannot see the registry", () => {
  it("with no credentials anywhere, the proxies pull anonymously (with a warning), not CREDENTIALS_MISSING", async () => {
    const { g, warnings } = gate(scripted([{ source: "none", verdict: "REGISTRY_UNREACHABLE" }]).preflight);
    expect(await g.credentials("r1:443")).toBeUndefined();
    expect(g.refused.aborted).toBe(false);
    expect(warnings.join("\n")).toMatch(/not reachable from this machine .* pull anonymously/);
    expect((await g.summary())[0]?.credentialSource).toBe("anonymous");
  });
});

describe("RegistryGate.verified", () => {
  it.each<[string, { source: string; verdict?: Verdict; password?: string }, boolean]>([
    [
      "credentials the registry accepted from here",
      { source: "environment", verdict: "ok", password: "pw" },
      true,
    ],
    [
      "a registry this machine could not reach",
      { source: "environment", verdict: "REGISTRY_UNREACHABLE", password: "pw" },
      false,
    ],
    ["a public registry (no credentials to check)", { source: "anonymous", verdict: "public" }, false],
    ["--no-registry-check (no verdict)", { source: "environment", password: "pw" }, false],
  ])("%s: %s", async (_what, step, verified) => {
    const { g } = gate(scripted([step]).preflight);
    await g.credentials("r1:443");
    expect(g.verified("r1:443")).toBe(verified);
  });

  it("is false again once the credentials were refreshed (not checked from here)", async () => {
    const { g } = gate(scripted([{ source: "helper(x)", verdict: "ok", password: "pw" }]).preflight);
    await g.credentials("r1:443");
    await g.refresh("r1:443");
    expect(g.verified("r1:443")).toBe(false);
  });
});
