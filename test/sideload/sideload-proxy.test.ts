/**
 * The rules of the per-proxy steps, with a fake session: skip when present, log in once per
 * registry, refresh refused credentials once, re-issue a dropped pull, fail a wrong verify,
 * report the CA outcome. The same rules run against real parts in test/lab/.
 */
import { describe, expect, it } from "vitest";
import { SideloadError, type ErrorCode } from "../../src/errors.js";
import type { RegistryAuth } from "../../src/credentials/registry-auth.js";
import type { Proxy } from "../../src/inventory/proxy.js";
import type { Session, SessionOptions } from "../../src/session/proxy-session.js";
import { sideloadProxy } from "../../src/sideload/sideload-proxy.js";
import type { AdapterImage, RegistryCredentials, SideloadJob } from "../../src/sideload/types.js";

const proxy: Proxy = { name: "cp-1", host: "10.0.0.5", port: 22, user: "root", groups: [] };
const image = (registry: string, name: string): AdapterImage => ({
  kind: "K",
  registry,
  repository: `/mp/${name}`,
  digest: `sha256:${"a".repeat(64)}`,
  reference: `${registry}/mp/${name}@sha256:${"a".repeat(64)}`,
});
const a = image("r1:443", "a");
const b = image("r1:443", "b");
const c = image("r2:443", "c");

/** A scripted session that records every call. */
function fakeSession(script: {
  present?: string[];
  loginRefuses?: (auth: RegistryAuth) => boolean;
  pullDrops?: number;
  /** The first engine startEngine tries is not there: the early requests on it fail. */
  wrongGuess?: boolean;
  verifyLists?: (reference: string) => string[];
  ca?: string;
  /** Codes the pulls fail with, one per pull, before they succeed. */
  pullFailures?: ErrorCode[];
  /** Codes the connects after the first fail with, one per connect. */
  reconnectFailures?: ErrorCode[];
}) {
  const pullFailures = [...(script.pullFailures ?? [])];
  const reconnectFailures = [...(script.reconnectFailures ?? [])];
  let connects = 0;
  const calls: string[] = [];
  const stallTimeouts: (number | undefined)[] = [];
  let drops = script.pullDrops ?? 0;
  const held = new Set(script.present ?? []);
  let ca = script.ca;
  const given: (SessionOptions["endpoint"] | undefined)[] = [];
  const found = { socket: "/run/e.sock", source: "DOCKER_HOST", transport: "stream-local" } as const;
  const open = (_p: Proxy, options: SessionOptions): Session => {
    given.push(options.endpoint);
    let guessing = false;
    const gone = () => Promise.reject(new SideloadError("ENGINE_UNREACHABLE", "no socket"));
    return {
      connect: () => {
        calls.push("connect");
        const failure = connects++ > 0 ? reconnectFailures.shift() : undefined;
        return failure ? Promise.reject(new SideloadError(failure, failure)) : Promise.resolve();
      },
      startEngine: (whileWaiting?: () => void) => {
        calls.push("engine");
        if (script.wrongGuess && options.endpoint === undefined) {
          guessing = true;
          whileWaiting?.();
          guessing = false;
          calls.push("engine again");
        }
        whileWaiting?.();
        return Promise.resolve({ version: "27", apiVersion: "1.47" });
      },
      transport: "stream-local",
      endpoint: found,
      closed: false,
      hasReference: (ref: string) => {
        calls.push(`present ${ref}${guessing ? " (guess)" : ""}`);
        return guessing ? gone() : Promise.resolve(held.has(ref));
      },
      repoDigests: (ref: string) =>
        Promise.resolve(script.verifyLists ? script.verifyLists(ref) : held.has(ref) ? [ref] : undefined),
      login: (auth: RegistryAuth) => {
        calls.push(`login ${auth.serveraddress} ${auth.password}${guessing ? " (guess)" : ""}`);
        if (guessing) return gone();
        if (script.loginRefuses?.(auth))
          return Promise.reject(new SideloadError("REGISTRY_UNAUTHORIZED", "refused"));
        return Promise.resolve();
      },
      pull: (t: AdapterImage, _auth: unknown, _progress: unknown, options?: { stallTimeoutMs?: number }) => {
        calls.push(`pull ${t.reference}`);
        stallTimeouts.push(options?.stallTimeoutMs);
        const failure = pullFailures.shift();
        if (failure) return Promise.reject(new SideloadError(failure, failure));
        if (drops > 0) {
          drops--;
          return Promise.reject(new SideloadError("SSH_DISCONNECTED", "dropped"));
        }
        held.add(t.reference);
        return Promise.resolve();
      },
      installCa: (registry: string, pem: string) => {
        calls.push(`ca ${registry}`);
        const outcome = ca === pem ? "unchanged" : "installed";
        ca = pem;
        return Promise.resolve(outcome);
      },
      readCa: () => Promise.resolve(ca),
      close: () => calls.push("close"),
    } as unknown as Session;
  };
  return { open, calls, given, stallTimeouts };
}

/** The registry gate as a proxy sees it: credentials once `ready` settles. */
function registries(
  options: {
    ready?: Promise<void>;
    refresh?: (registry: string) => Promise<RegistryAuth | undefined>;
    verified?: boolean;
  } = {},
): RegistryCredentials {
  return {
    credentials: async (registry) => {
      await options.ready;
      return { username: "u", password: "pw-1", serveraddress: registry };
    },
    refresh: options.refresh ?? (() => Promise.resolve(undefined)),
    verified: () => options.verified ?? false,
  };
}

function job(images: AdapterImage[], extra: Partial<SideloadJob> = {}): SideloadJob {
  return {
    mode: "pull",
    images,
    retries: 2,
    timeoutMs: 10_000,
    registries: registries(),
    ...extra,
  };
}

function run(
  images: AdapterImage[],
  session: ReturnType<typeof fakeSession>,
  extra: Partial<SideloadJob> = {},
) {
  return sideloadProxy(proxy, job(images, extra), {
    knownHosts: [],
    connect: { hostKeys: { knownHostsFile: "/dev/null", acceptNew: false }, auth: { identities: [] } },
    onEvent: () => undefined,
    backoffMs: () => 1,
    openSession: session.open,
  });
}

describe("sideloadProxy's rules", () => {
  it("skips a reference the engine already holds: no pull (verify: not even a login)", async () => {
    const session = fakeSession({ present: [a.reference] });
    const results = await run([a], session);
    expect(results.map((r) => r.status)).toEqual(["present"]);
    expect(session.calls.some((c) => c.startsWith("pull"))).toBe(false);
    const verifying = fakeSession({ present: [a.reference] });
    await run([a], verifying, { mode: "verify" });
    expect(verifying.calls, verifying.calls.join(";")).toEqual([
      "connect",
      "engine",
      `present ${a.reference}`,
      "close",
    ]);
  });

  it("starts the presence checks with the engine check, and a missing image's login right after its answer", async () => {
    const session = fakeSession({});
    await run([a, c], session);
    const engineAt = session.calls.indexOf("engine");
    // Everything asked of the engine before the first pull came right after /version was sent.
    expect(session.calls.slice(engineAt + 1, engineAt + 5).sort()).toEqual(
      [`present ${a.reference}`, `present ${c.reference}`, "login r1:443 pw-1", "login r2:443 pw-1"].sort(),
    );
    expect(
      session.calls.filter((x) => x.startsWith("login")),
      session.calls.join("\n"),
    ).toHaveLength(2);
    expect(session.calls.filter((x) => x.startsWith("present"))).toHaveLength(2);
  });

  it("when the engine's first guess was wrong, starts the early requests over on the engine found", async () => {
    const session = fakeSession({ wrongGuess: true, present: [c.reference] });
    const results = await run([a, c], session);
    expect(
      results.map((r) => r.status),
      session.calls.join("\n"),
    ).toEqual(["pulled", "present"]);
    const again = session.calls.indexOf("engine again");
    // c is present: its registry (r2) needs no login at all.
    expect(session.calls.slice(again + 1, again + 4).sort()).toEqual(
      [`present ${a.reference}`, `present ${c.reference}`, "login r1:443 pw-1"].sort(),
    );
    // The guesses' failures were not taken for answers; a failed presence check starts no login.
    expect(session.calls.filter((x) => x.startsWith("login") && !x.endsWith("(guess)"))).toEqual([
      "login r1:443 pw-1",
    ]);
    expect(session.calls.filter((x) => x.endsWith("(guess)"))).toHaveLength(2);
  });

  it("a session reopened after a drop goes straight to the engine the first one found", async () => {
    const session = fakeSession({ pullDrops: 1 });
    const results = await run([a], session);
    expect(results[0]?.status).toBe("pulled");
    expect(results[0]?.engine).toBe("/run/e.sock");
    expect(session.given).toEqual([
      undefined,
      { socket: "/run/e.sock", source: "DOCKER_HOST", transport: "stream-local" },
    ]);
  });

  it("waits for the registries' check (job.registries)  before any CA, login or pull; a refusal means none at all", async () => {
    let release: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (release = resolve));
    const session = fakeSession({});
    const running = run([a], session, {
      registries: registries({ ready }),
      registryCa: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n",
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(session.calls).toEqual(["connect", "engine", `present ${a.reference}`]);
    release();
    expect((await running).map((r) => r.status)).toEqual(["pulled"]);
    expect(session.calls.slice(3)).toEqual([
      "ca r1:443",
      "login r1:443 pw-1",
      `pull ${a.reference}`,
      "close",
    ]);

    const refusedSession = fakeSession({});
    const refused = Promise.reject(new SideloadError("REGISTRY_UNAUTHORIZED", "refused"));
    refused.catch(() => undefined);
    const rows = await run([a, c], refusedSession, { registries: registries({ ready: refused }) });
    expect(rows.map((r) => [r.status, r.failedStep])).toEqual([
      ["failed", "login"],
      ["failed", "login"],
    ]);
    expect(refusedSession.calls.filter((x) => /^(login|pull|ca)/.test(x))).toEqual([]);
  });

  it("no early login when a CA must be installed first", async () => {
    const session = fakeSession({});
    await run([a], session, { registryCa: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n" });
    expect(session.calls.indexOf("ca r1:443")).toBeLessThan(session.calls.indexOf("login r1:443 pw-1"));
  });

  it("sends no POST /auth for a registry the workstation's check accepted: the pull carries the credentials", async () => {
    const session = fakeSession({});
    const results = await run([a, c], session, { registries: registries({ verified: true }) });
    expect(results.map((r) => r.status)).toEqual(["pulled", "pulled"]);
    expect(session.calls.filter((x) => x.startsWith("login"))).toEqual([]);
    expect(session.calls.filter((x) => x.startsWith("pull"))).toHaveLength(2);
  });

  it("logs in once per registry and session, however many references it holds", async () => {
    const session = fakeSession({});
    const results = await run([a, b, c], session);
    expect(results.map((r) => r.status)).toEqual(["pulled", "pulled", "pulled"]);
    expect(session.calls.filter((c) => c.startsWith("login"))).toEqual([
      "login r1:443 pw-1",
      "login r2:443 pw-1",
    ]);
  });

  it("after a refusal, logs in once more with fresh credentials, and pulls with those", async () => {
    const session = fakeSession({ loginRefuses: (auth) => auth.password === "pw-1" });
    let refreshes = 0;
    const results = await run([a], session, {
      registries: registries({
        refresh: (registry) => (
          refreshes++,
          Promise.resolve({ username: "u", password: "pw-2", serveraddress: registry })
        ),
      }),
    });
    expect(results[0]?.status).toBe("pulled");
    expect(refreshes).toBe(1);
    expect(session.calls.filter((c) => c.startsWith("login"))).toEqual([
      "login r1:443 pw-1",
      "login r1:443 pw-2",
    ]);
  });

  it("a refusal without a way to refresh fails the login step", async () => {
    const session = fakeSession({ loginRefuses: () => true });
    const results = await run([a], session);
    expect(results[0]).toMatchObject({
      status: "failed",
      failedStep: "login",
      error: { code: "REGISTRY_UNAUTHORIZED" },
    });
    expect(session.calls).not.toContain(`pull ${a.reference}`);
  });

  it("re-issues a dropped pull on a new session, up to --retries", async () => {
    const session = fakeSession({ pullDrops: 2 });
    const results = await run([a], session);
    expect(results[0]).toMatchObject({ status: "pulled", attempts: 3 });
    expect(session.calls.filter((c) => c === "connect")).toHaveLength(3);
    const failing = fakeSession({ pullDrops: 5 });
    expect((await run([a], failing))[0]).toMatchObject({
      status: "failed",
      failedStep: "pull",
      error: { code: "SSH_DISCONNECTED" },
    });
  });

  it("fails verify when the engine does not list the exact reference", async () => {
    const session = fakeSession({ verifyLists: () => ["r1:443/mp/a@sha256:other"] });
    expect((await run([a], session))[0]).toMatchObject({
      status: "failed",
      failedStep: "verify",
      error: { code: "VERIFY_FAILED" },
    });
  });

  it("verify mode reports missing and never logs in", async () => {
    const session = fakeSession({});
    const results = await run([a], session, { mode: "verify" });
    expect(results[0]?.status).toBe("missing");
    expect(session.calls.some((c) => c.startsWith("login") || c.startsWith("pull"))).toBe(false);
  });

  it("reports whether the CA was installed or already there", async () => {
    const pem = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n";
    expect((await run([a], fakeSession({}), { registryCa: pem }))[0]?.registryCa).toBe("installed");
    expect((await run([a], fakeSession({ ca: pem }), { registryCa: pem }))[0]?.registryCa).toBe("unchanged");
  });
});

describe("re-issuing a pull", () => {
  const outcome = (r: { status: string; attempts?: number; error?: { code: string } }) => [
    r.status,
    r.attempts,
    r.error?.code,
  ];

  it("an engine restart is asked again on the same connection, not a new one", async () => {
    const session = fakeSession({ pullFailures: ["ENGINE_RESTARTED"] });
    const [result] = await run([a], session);
    expect(outcome(result!)).toEqual(["pulled", 2, undefined]);
    expect(session.calls.filter((c) => c === "connect")).toHaveLength(1);
    expect(session.calls.filter((c) => c === "engine")).toHaveLength(2);
  });

  it("a reconnect that fails stays in the loop until the retries are spent", async () => {
    const recovered = fakeSession({
      pullDrops: 1,
      reconnectFailures: ["SSH_UNREACHABLE", "SSH_UNREACHABLE"],
    });
    expect(outcome((await run([a], recovered, { retries: 4 }))[0]!)).toEqual(["pulled", 4, undefined]);
    const spent = fakeSession({ pullDrops: 1, reconnectFailures: ["SSH_UNREACHABLE", "SSH_UNREACHABLE"] });
    expect(outcome((await run([a], spent, { retries: 2 }))[0]!)).toEqual(["failed", 3, "SSH_UNREACHABLE"]);
  });

  it("a stall is re-issued on the same session; the stall timeout defaults to 60 s", async () => {
    const session = fakeSession({ pullFailures: ["PULL_STALLED"] });
    expect(outcome((await run([a], session))[0]!)).toEqual(["pulled", 2, undefined]);
    expect(session.calls.filter((c) => c === "connect" || c === "engine")).toEqual(["connect", "engine"]);
    expect(session.stallTimeouts).toEqual([60_000, 60_000]);
    const shorter = fakeSession({});
    await run([a], shorter, { stallTimeoutMs: 5_000 });
    expect(shorter.stallTimeouts).toEqual([5_000]);
  });

  it("a registry's rate limit seen by the engine is waited out and re-issued within --retries", async () => {
    const session = fakeSession({ pullFailures: ["REGISTRY_RATE_LIMITED", "REGISTRY_RATE_LIMITED"] });
    expect(outcome((await run([a], session))[0]!)).toEqual(["pulled", 3, undefined]);
    const limited = fakeSession({ pullFailures: ["REGISTRY_RATE_LIMITED", "REGISTRY_RATE_LIMITED"] });
    expect(outcome((await run([a], limited, { retries: 1 }))[0]!)).toEqual([
      "failed",
      2,
      "REGISTRY_RATE_LIMITED",
    ]);
  });

  it("what retrying cannot help fails at once", async () => {
    const session = fakeSession({ pullFailures: ["PROXY_DISK_FULL"] });
    expect(outcome((await run([a], session))[0]!)).toEqual(["failed", undefined, "PROXY_DISK_FULL"]);
  });
});
