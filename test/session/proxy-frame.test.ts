/**
 * The frame every per-proxy command runs in, with a scripted session: the row at the end
 * whatever happens, the cleanups a step registered run on every path out (success, a step that
 * throws, the deadline, Ctrl-C) before the session closes, and the events in order.
 */
import { describe, expect, it } from "vitest";
import { SideloadError } from "../../src/errors.js";
import type { Proxy } from "../../src/inventory/proxy.js";
import type { ProxyEvent } from "../../src/session/events.js";
import { runProxies, runProxy, type ProxyCommand } from "../../src/session/proxy-frame.js";
import type { Session } from "../../src/session/proxy-session.js";

const proxy: Proxy = { name: "cp-1", host: "10.0.0.5", port: 22, user: "root", groups: [] };

function fakeSession(calls: string[], options: { connectFails?: boolean } = {}) {
  return (): Session =>
    ({
      connect: () => {
        calls.push("connect");
        return options.connectFails
          ? Promise.reject(new SideloadError("SSH_UNREACHABLE", "refused"))
          : Promise.resolve();
      },
      startEngine: () => {
        calls.push("engine");
        return Promise.resolve({ version: "27", apiVersion: "1.47" });
      },
      endpoint: { socket: "/var/run/docker.sock", source: "default", transport: "stream-local" },
      closed: false,
      close: () => calls.push("close"),
    }) as unknown as Session;
}

/** A command whose one step registers an undo, then does `work`. */
function command(calls: string[], work: (signal: AbortSignal) => Promise<string>, timeoutMs = 5000) {
  const spec: ProxyCommand<string> = {
    timeoutMs,
    steps: (frame) => ({
      run: async () => {
        await frame.open();
        return frame.step("pull", async () => {
          frame.onCleanup((signal) => {
            calls.push(`undo (its own signal ${signal.aborted ? "aborted" : "live"})`);
          });
          return work(frame.signal);
        });
      },
      failed: (error, step) => `failed at ${step}: ${(frame.deadline.explain(error) as SideloadError).code}`,
    }),
    notStarted: (p) => `${p.name} not started`,
  };
  return spec;
}

const deps = (calls: string[], extra: object = {}) => ({
  knownHosts: [],
  connect: { hostKeys: { knownHostsFile: "/dev/null", acceptNew: false }, auth: { identities: [] } },
  openSession: fakeSession(calls),
  ...extra,
});

describe("the proxy frame", () => {
  it("opens the session as two steps, runs the command's, ends with its row; the undo runs before the close", async () => {
    const calls: string[] = [];
    const events: ProxyEvent<string>[] = [];
    const row = await runProxy(
      proxy,
      command(calls, () => Promise.resolve("pulled")),
      deps(calls, { onEvent: (e: ProxyEvent<string>) => events.push(e) }),
    );
    expect(row).toBe("pulled");
    expect(calls).toEqual(["connect", "engine", "undo (its own signal live)", "close"]);
    expect(
      events.map((e) => (e.type.startsWith("step") ? `${e.type} ${"step" in e ? e.step : ""}` : e.type)),
    ).toEqual([
      "proxy-started",
      "step-started connect",
      "step-finished connect",
      "step-started engine",
      "step-finished engine",
      "step-started pull",
      "step-finished pull",
      "proxy-finished",
    ]);
    expect(events.at(-1)).toMatchObject({ type: "proxy-finished", results: "pulled" });
  });

  it("a step that throws: the command's failed row names the step; the undo still runs, then the close", async () => {
    const calls: string[] = [];
    const row = await runProxy(
      proxy,
      command(calls, () => Promise.reject(new SideloadError("PULL_FAILED", "no"))),
      deps(calls),
    );
    expect(row).toBe("failed at pull: PULL_FAILED");
    expect(calls.slice(-2)).toEqual(["undo (its own signal live)", "close"]);
  });

  it("the deadline: TIMEOUT in the row, the undo runs with a signal of its own, then the close", async () => {
    const calls: string[] = [];
    const hang = () => new Promise<string>(() => undefined);
    const row = await runProxy(proxy, command(calls, hang, 200), deps(calls));
    expect(row).toBe("failed at pull: TIMEOUT");
    expect(calls.filter((c) => c.startsWith("undo"))).toEqual(["undo (its own signal live)"]);
    expect(calls.at(-1)).toBe("close");
  });

  it("Ctrl-C mid-step: INTERRUPTED, the undo runs once; proxies not started get the command's row", async () => {
    const calls: string[] = [];
    const run = new AbortController();
    const work = () => {
      setTimeout(() => run.abort(new Error("SIGINT")), 20);
      return new Promise<string>(() => undefined);
    };
    const rows = await runProxies([proxy, { ...proxy, name: "cp-2" }], command(calls, work), {
      ...deps(calls),
      signal: run.signal,
      concurrency: 1,
    });
    expect(rows).toEqual(["failed at pull: INTERRUPTED", "cp-2 not started"]);
    expect(calls.filter((c) => c.startsWith("undo"))).toHaveLength(1);
    expect(calls.at(-1)).toBe("close");
  });

  it("a session that does not open: the failed row names connect; nothing registered, nothing undone", async () => {
    const calls: string[] = [];
    const row = await runProxy(
      proxy,
      command(calls, () => Promise.resolve("pulled")),
      {
        ...deps(calls),
        openSession: fakeSession(calls, { connectFails: true }),
      },
    );
    expect(row).toBe("failed at connect: SSH_UNREACHABLE");
    expect(calls).toEqual(["connect", "close"]);
  });
});
