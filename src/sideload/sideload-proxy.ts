import { abortable } from "../abortable.js";
import { SideloadError, hostPort, printable, toErrorInfo } from "../errors.js";
import { Engine, type RegistryAuth } from "../engine/engine.js";
import type { EngineTransport } from "../engine/ssh-agent.js";
import type { Proxy } from "../inventory/proxy.js";
import { connectProxy, type ConnectOptions, type SshConnection } from "../ssh/connect.js";
import type { KnownHostLine } from "../ssh/known-hosts.js";
import type { ProxyResult, SideloadEvent, SideloadJob, StepName, StepTiming, Target } from "./types.js";

export interface ProxyDeps {
  knownHosts: KnownHostLine[];
  connect: Omit<ConnectOptions, "signal">;
  onEvent: (event: SideloadEvent) => void;
  signal?: AbortSignal | undefined;
  /** Backoff before re-issuing a dropped pull; tests shorten it. */
  backoffMs?: (attempt: number) => number;
}

const defaultBackoff = (attempt: number) => Math.min(500 * 2 ** (attempt - 1), 8_000);

/** One proxy's open session: its SSH connection and its engine. Closed by its owner, `sideloadProxy`. */
interface Session {
  connection: SshConnection;
  engine: Engine;
}

/**
 * Prepare one proxy: connect → engine → for each target: present? → login → pull → verify.
 * Never throws: every failure becomes a `failed` result naming the step and the error.
 */
export async function sideloadProxy(proxy: Proxy, job: SideloadJob, deps: ProxyDeps): Promise<ProxyResult[]> {
  const started = Date.now();
  const timeout = AbortSignal.timeout(job.timeoutMs);
  const signal = deps.signal ? AbortSignal.any([deps.signal, timeout]) : timeout;
  const where = `${printable(proxy.name)} (${hostPort(proxy.host, proxy.port)})`;
  const common: StepTiming[] = [];
  let session: Session | undefined;
  let transport: EngineTransport | undefined;

  const step = async <T>(
    name: StepName,
    timings: StepTiming[],
    run: () => Promise<T>,
    reference?: string,
  ): Promise<T> => {
    deps.onEvent({ type: "step-started", proxy, step: name, ...(reference ? { reference } : {}) });
    const t0 = Date.now();
    try {
      // Every step ends by the proxy's deadline or on Ctrl-C, whatever the far end does.
      return await abortable(run(), signal);
    } finally {
      const durationMs = Date.now() - t0;
      timings.push({ step: name, durationMs });
      deps.onEvent({
        type: "step-finished",
        proxy,
        step: name,
        durationMs,
        ...(reference ? { reference } : {}),
      });
    }
  };

  const open = async (timings: StepTiming[]): Promise<Session> => {
    const connection = await step("connect", timings, () =>
      connectProxy(proxy, deps.knownHosts, { ...deps.connect, signal }),
    );
    try {
      const engine = await step("engine", timings, async () => {
        const { socketPath, preferred, dialStdioHost } = await engineEndpoint(connection, proxy, transport);
        const engine = new Engine(connection, socketPath, where, preferred, dialStdioHost, signal);
        await engine.version();
        return engine;
      });
      transport = engine.transport;
      return { connection, engine };
    } catch (error) {
      connection.close();
      throw error;
    }
  };

  const close = () => {
    session?.engine.close();
    session?.connection.close();
    session = undefined;
  };

  /** One row of the report: this proxy, one target, what became of it. */
  const row = (
    target: Target,
    status: ProxyResult["status"],
    steps: StepTiming[],
    failure?: { error: unknown; step: StepName | undefined },
    attempts = 0,
  ): ProxyResult => ({
    name: proxy.name,
    host: proxy.host,
    port: proxy.port,
    status,
    reference: target.reference,
    durationMs: Date.now() - started,
    transport,
    ...(failure === undefined
      ? {}
      : {
          failedStep: failure.step,
          error: toErrorInfo(abortReason(failure.error, signal, timeout, where, job.timeoutMs)),
        }),
    steps,
    ...(attempts > 1 ? { attempts } : {}),
  });
  /** For targets that never got past the common steps (or were never reached). */
  const unreached = (target: Target, status: "failed" | "skipped", error: unknown, failedStep?: StepName) =>
    row(target, status, [...common], { error, step: failedStep });
  const failAll = (error: unknown, failedStep: StepName | undefined): ProxyResult[] =>
    job.targets.map((target) => unreached(target, "failed", error, failedStep));

  deps.onEvent({ type: "proxy-started", proxy });
  // On the deadline or Ctrl-C, tear the connection down at once: that ends every channel,
  // exec and request still waiting on it, so nothing outlives the proxy's time.
  signal.addEventListener("abort", close, { once: true });
  const results: ProxyResult[] = [];
  try {
    try {
      session = await open(common);
    } catch (error) {
      const failed = failAll(error, common.at(-1)?.step);
      deps.onEvent({ type: "proxy-finished", proxy, results: failed });
      return failed;
    }
    const loggedIn = new Set<string>();
    for (const target of job.targets) {
      const timings: StepTiming[] = [...common];
      let attempts = 0;
      let current: StepName = "present";
      const result = (status: ProxyResult["status"], error?: unknown): ProxyResult =>
        row(target, status, timings, error === undefined ? undefined : { error, step: current }, attempts);
      try {
        const s = () => {
          if (!session)
            throw new SideloadError("SSH_DISCONNECTED", `${where}: the connection is closed`, {
              exitStatus: 1,
            });
          return session;
        };
        const present = await step(
          "present",
          timings,
          () => s().engine.hasReference(target.reference),
          target.reference,
        );
        if (present) {
          results.push(result("present"));
          continue;
        }
        if (job.mode === "verify") {
          results.push(result("missing"));
          continue;
        }
        let auth = job.auth?.(target.registry);
        if (!loggedIn.has(target.registry)) {
          current = "login";
          auth = await step(
            "login",
            timings,
            async () => {
              if (job.registryCa !== undefined)
                await installRegistryCa(s().connection, target.registry, job.registryCa, where);
              return auth && (await loginRefreshing(s().engine, auth, target.registry, job));
            },
            target.reference,
          );
          loggedIn.add(target.registry);
        }
        current = "pull";
        await step(
          "pull",
          timings,
          async () => {
            for (;;) {
              attempts++;
              try {
                await s().engine.pull(
                  target,
                  auth,
                  (progress) =>
                    deps.onEvent({ type: "pull-progress", proxy, reference: target.reference, progress }),
                  signal,
                );
                return;
              } catch (error) {
                const dropped = error instanceof SideloadError && error.code === "SSH_DISCONNECTED";
                if (!dropped || attempts > job.retries || signal.aborted) throw error;
                const delayMs = (deps.backoffMs ?? defaultBackoff)(attempts);
                deps.onEvent({
                  type: "retry",
                  proxy,
                  reference: target.reference,
                  attempt: attempts,
                  error: toErrorInfo(error),
                  delayMs,
                });
                close();
                await sleep(delayMs, signal);
                // Layers the engine already fetched are kept: the re-issued pull resumes from them.
                session = await open(timings);
              }
            }
          },
          target.reference,
        );
        current = "verify";
        const digests = await step(
          "verify",
          timings,
          () => s().engine.repoDigests(target.reference),
          target.reference,
        );
        if (!digests?.includes(target.reference)) {
          throw new SideloadError(
            "VERIFY_FAILED",
            `${where}: after the pull, the engine does not list ${target.reference} (RepoDigests: ${JSON.stringify(digests ?? [])})`,
            {
              hint: "the registry served another manifest than the digest names; check the registry and the pak",
              exitStatus: 1,
            },
          );
        }
        results.push(result("pulled"));
      } catch (error) {
        results.push(result("failed", error));
        if (signal.aborted) break;
      }
    }
    // Targets never reached (aborted): report them as skipped rather than leave them out.
    for (const target of job.targets.slice(results.length))
      results.push(unreached(target, "skipped", signal.reason));
    deps.onEvent({ type: "proxy-finished", proxy, results });
    return results;
  } finally {
    signal.removeEventListener("abort", close);
    close();
  }
}

/**
 * `POST /auth`; when the registry refuses and the credentials' source can give fresh ones (a
 * helper's --refresh, a token command), once more with those. Returns the credentials that
 * were accepted, for the pull.
 */
async function loginRefreshing(
  engine: Engine,
  auth: RegistryAuth,
  registry: string,
  job: SideloadJob,
): Promise<RegistryAuth> {
  try {
    await engine.login(auth);
    return auth;
  } catch (error) {
    if (!(error instanceof SideloadError && error.code === "REGISTRY_UNAUTHORIZED") || !job.refreshAuth)
      throw error;
    const fresh = await job.refreshAuth(registry);
    if (fresh === undefined) throw error;
    await engine.login(fresh);
    return fresh;
  }
}

/** Where the proxy's engine listens: inventory setting, else the proxy's DOCKER_HOST, else the default. */
async function engineEndpoint(
  connection: SshConnection,
  proxy: Proxy,
  known: EngineTransport | undefined,
): Promise<{ socketPath: string; preferred: EngineTransport | undefined; dialStdioHost?: string }> {
  if (proxy.dockerSocket) {
    return {
      socketPath: proxy.dockerSocket,
      preferred: known,
      dialStdioHost: `unix://${proxy.dockerSocket}`,
    };
  }
  const { stdout } = await connection.exec("printenv DOCKER_HOST");
  const dockerHost = stdout.trim();
  if (dockerHost.startsWith("unix://"))
    return { socketPath: dockerHost.slice("unix://".length), preferred: known };
  // A TCP or SSH DOCKER_HOST: only the docker CLI on the proxy can follow it.
  if (dockerHost !== "") return { socketPath: dockerHost, preferred: "dial-stdio" };
  return { socketPath: "/var/run/docker.sock", preferred: known };
}

/** Install a registry CA as /etc/docker/certs.d/<REGISTRY>/ca.crt; the engine reads it per pull. */
async function installRegistryCa(
  connection: SshConnection,
  registry: string,
  pem: string,
  where: string,
): Promise<void> {
  // `registry` passed the reference grammar (host[:port] characters only): safe inside quotes.
  const dir = `/etc/docker/certs.d/${registry}`;
  const { code, stderr } = await connection.exec(
    `umask 022 && mkdir -p '${dir}' && cat > '${dir}/ca.crt.mp-sideload' && mv -f '${dir}/ca.crt.mp-sideload' '${dir}/ca.crt'`,
    pem,
  );
  if (code !== 0) {
    throw new SideloadError(
      "ENGINE_PERMISSION",
      `${where}: cannot write ${dir}/ca.crt (${stderr.trim() || `exit ${code}`})`,
      {
        hint: "installing a registry CA needs root on the proxy (--ssh-user root)",
        exitStatus: 1,
      },
    );
  }
}

function abortReason(
  error: unknown,
  signal: AbortSignal,
  timeout: AbortSignal,
  where: string,
  timeoutMs: number,
): unknown {
  if (!signal.aborted) return error;
  if (timeout.aborted) {
    return new SideloadError("TIMEOUT", `${where}: did not finish within ${Math.round(timeoutMs / 1000)} s`, {
      hint: "raise --timeout, or check what the proxy is waiting for with --debug",
      exitStatus: 1,
    });
  }
  const reason: unknown = signal.reason;
  return new SideloadError(
    "INTERRUPTED",
    `${where}: ${reason instanceof SideloadError ? reason.message : "interrupted"}`,
    { exitStatus: reason instanceof SideloadError ? reason.exitStatus : 130 },
  );
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
