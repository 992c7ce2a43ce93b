import { setTimeout as sleep } from "node:timers/promises";
import { abortable } from "../abortable.js";
import { SideloadError, hostPort, printable, toErrorInfo } from "../errors.js";
import { repositoryName, sameImageReference } from "../reference.js";
import type { PullProgress } from "../engine/engine.js";
import type { RegistryAuth } from "../credentials/registry-auth.js";
import type { Proxy } from "../inventory/proxy.js";
import type { ConnectOptions } from "../ssh/connect.js";
import type { KnownHostLine } from "../ssh/known-hosts.js";
import { ProxyDeadline } from "../session/proxy-deadline.js";
import { imagesFor } from "./proxy-images.js";
import type { ProxyRelay } from "../relay/proxy-relay.js";
import { pruneOnEngine, type EnginePrune } from "./prune.js";
import {
  openProxySession,
  type CaOutcome,
  type EngineEndpoint,
  type OpenSession,
  type Session,
} from "../session/proxy-session.js";
import {
  defaultStallTimeoutMs,
  type AdapterImage,
  type ProxyResult,
  type SideloadEvent,
  type SideloadJob,
  type StepName,
  type StepTiming,
} from "./types.js";

export interface ProxyDeps {
  knownHosts: KnownHostLine[];
  connect: Omit<ConnectOptions, "signal">;
  onEvent: (event: SideloadEvent) => void;
  signal?: AbortSignal | undefined;
  /** Backoff before re-issuing a dropped pull; tests shorten it. */
  backoffMs?: (attempt: number) => number;
  /** Opens the proxy's session; tests of the step rules pass a fake. */
  openSession?: OpenSession;
}

const defaultBackoff = (attempt: number) => Math.min(500 * 2 ** (attempt - 1), 8_000);
/** After a registry's rate limit (HTTP 429 seen by the engine): 5, 10, 20… s, at most a minute. */
const rateLimitBackoff = (attempt: number) => Math.min(5_000 * 2 ** (attempt - 1), 60_000);

/**
 * What a failed pull attempt needs before the next: a new SSH connection, the engine asked
 * again on the same one, or only a re-issue (a stall); undefined when retrying cannot help.
 */
function retryCause(error: unknown): "connection" | "engine" | "stall" | "rate-limit" | undefined {
  if (!(error instanceof SideloadError)) return undefined;
  switch (error.code) {
    case "SSH_DISCONNECTED":
    case "SSH_UNREACHABLE":
      return "connection";
    case "ENGINE_RESTARTED":
    case "ENGINE_UNREACHABLE":
      return "engine";
    case "PULL_STALLED":
      return "stall";
    // The engine passes on no Retry-After: wait longer than for a drop, doubling, within the
    // proxy's --timeout and --retries (the workstation's check honours Retry-After itself).
    case "REGISTRY_RATE_LIMITED":
      return "rate-limit";
    default:
      return undefined;
  }
}

/**
 * Prepare one proxy: connect → engine → for each image: present? → login → pull → verify.
 * Never throws: every failure becomes a `failed` result naming the step and the error.
 */
export function sideloadProxy(proxy: Proxy, job: SideloadJob, deps: ProxyDeps): Promise<ProxyResult[]> {
  return new ProxyRun(proxy, job, deps).run();
}

/** The state of one proxy's run; its steps are the methods below, in the order they run. */
class ProxyRun {
  private readonly started = Date.now();
  private readonly deadline: ProxyDeadline;
  /** The deadline's signal: the proxy's --timeout or the run's interruption. */
  private readonly signal: AbortSignal;
  private readonly where: string;
  /** The images this proxy works on (all of the job's, or what --only-failed left to it). */
  private readonly images: AdapterImage[];
  /** Timings of connect and engine, shared by every image's row. */
  private readonly common: StepTiming[] = [];
  private session: Session | undefined;
  /** The engine the first session found; a reopened session goes straight to it. */
  private endpoint: EngineEndpoint | undefined;
  /** Registries this session has logged in to, with the credentials that were accepted. */
  private readonly loggedIn = new Map<string, RegistryAuth | undefined>();
  private registryCa: CaOutcome | "failed" | undefined;
  /**
   * Requests started together with the engine's `/version` on the first session, to save round
   * trips: each reference's presence and, for pull, each registry's login (`POST /auth` changes
   * nothing; its answer is used only if the image turns out to be missing).
   */
  private readonly early = {
    presence: new Map<string, Promise<boolean>>(),
    logins: new Map<string, Promise<void>>(),
  };
  /** The session the early requests belong to (a reopened session after a drop starts none). */
  private earlyFor: Session | undefined;
  /** `pull --relay`: this proxy's relay (with `auto`, made once a direct pull cannot reach the registry). */
  private relay: ProxyRelay | undefined;
  private relayReason: string | undefined;

  constructor(
    private readonly proxy: Proxy,
    private readonly job: SideloadJob,
    private readonly deps: ProxyDeps,
  ) {
    this.where = `${printable(proxy.name)} (${hostPort(proxy.host, proxy.port)})`;
    this.images = imagesFor(proxy, job.images);
    this.deadline = new ProxyDeadline(job.timeoutMs, deps.signal, this.where);
    this.signal = this.deadline.signal;
    if (job.mode === "pull" && job.relay?.mode === "all") this.relay = this.makeRelay();
  }

  private makeRelay(): ProxyRelay | undefined {
    const registries = [...new Set(this.images.map((i) => i.registry))];
    return this.job.relay?.forProxy(this.proxy, registries, this.where);
  }

  async run(): Promise<ProxyResult[]> {
    this.deps.onEvent({ type: "proxy-started", proxy: this.proxy });
    // On the deadline or Ctrl-C, tear the connection down at once: that ends every channel,
    // exec and request still waiting on it, so nothing outlives the proxy's time.
    const close = () => this.close();
    this.signal.addEventListener("abort", close, { once: true });
    try {
      const results = await this.runTargets();
      this.deps.onEvent({ type: "proxy-finished", proxy: this.proxy, results });
      return results;
    } finally {
      this.signal.removeEventListener("abort", close);
      // The relay's line and forward go on every way out, over a new connection if need be.
      await this.relay?.undo(this.session, () => this.reopenForUndo());
      this.close();
    }
  }

  /** A session of its own for the relay's undo, when the run's is gone (a drop, the deadline). */
  private async reopenForUndo(): Promise<Session> {
    const session = (this.deps.openSession ?? openProxySession)(this.proxy, {
      knownHosts: this.deps.knownHosts,
      connect: this.deps.connect,
      signal: AbortSignal.timeout(30_000),
      where: this.where,
      endpoint: this.endpoint,
    });
    await session.connect();
    return session;
  }

  private async runTargets(): Promise<ProxyResult[]> {
    try {
      await this.open(this.common);
    } catch (error) {
      return this.images.map((t) =>
        this.row(t, "failed", [...this.common], { error, step: this.common.at(-1)?.step }),
      );
    }
    const results: ProxyResult[] = [];
    for (const image of this.images) {
      results.push(await this.sideloadImage(image));
      if (this.signal.aborted) break;
    }
    // Targets never reached (aborted): reported as skipped rather than left out.
    for (const image of this.images.slice(results.length)) {
      results.push(
        this.row(image, "skipped", [...this.common], { error: this.signal.reason, step: undefined }),
      );
    }
    await this.prune(results);
    return results;
  }

  /**
   * `pull --prune`, once every image of this proxy is there: the old images of its repositories
   * go (the current digests are every image of the run of those repositories). Each repository's
   * outcome goes on its first row; a failure here leaves the pulls as they are.
   */
  private async prune(results: ProxyResult[]): Promise<void> {
    const prune = this.job.prune;
    const ok = (r: ProxyResult) => r.status === "pulled" || r.status === "present";
    if (prune === undefined || this.signal.aborted || results.length === 0 || !results.every(ok)) return;
    const repositories = new Set(this.images.map(repositoryName));
    const current = this.job.images.filter((i) => repositories.has(repositoryName(i)));
    const timings: StepTiming[] = [];
    let outcome: EnginePrune;
    try {
      outcome = await this.step("prune", timings, () =>
        pruneOnEngine(this.current().engine, { images: current, keep: prune.keep, dryRun: false }),
      );
    } catch (error) {
      outcome = { removed: [], kept: [], bytesFreed: 0, error: toErrorInfo(this.deadline.explain(error)) };
    }
    // An error of no image in particular (the listing failed) goes on the first row.
    const listingError = outcome.removed.some((i) => i.error) ? undefined : outcome.error;
    const seen = new Set<string>();
    for (const row of results) {
      const image = this.images.find((i) => i.reference === row.reference);
      const repository = image === undefined ? undefined : repositoryName(image);
      if (repository === undefined || seen.has(repository)) continue;
      const removed = outcome.removed.filter((i) => i.repository === repository);
      const error = removed.find((i) => i.error)?.error ?? (seen.size === 0 ? listingError : undefined);
      seen.add(repository);
      row.steps.push(...timings);
      row.prune = {
        removed,
        bytesFreed: removed.reduce((n, i) => n + (i.deleted ? i.size : 0), 0),
        ...(error ? { error } : {}),
      };
    }
  }

  /** connect, then engine: a session whose engine answers. */
  private async open(timings: StepTiming[]): Promise<void> {
    const session = (this.deps.openSession ?? openProxySession)(this.proxy, {
      knownHosts: this.deps.knownHosts,
      connect: this.deps.connect,
      signal: this.signal,
      where: this.where,
      endpoint: this.endpoint,
    });
    this.session = session;
    try {
      await this.step("connect", timings, () => session.connect());
      await this.step("engine", timings, () => session.startEngine(() => this.startEarly(session)));
      this.endpoint = session.endpoint;
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** Called again by the same session when its first guess of the engine was wrong: starts over. */
  private startEarly(session: Session): void {
    if (this.earlyFor !== undefined && this.earlyFor !== session) return;
    this.earlyFor = session;
    const quiet = <T>(promise: Promise<T>) => (promise.catch(() => undefined), promise);
    for (const image of this.images) {
      this.early.presence.set(image.reference, quiet(session.hasReference(image.reference)));
    }
    // The CA, when asked for, must be in place before a login can succeed: no early login then.
    const registries = this.job.registries;
    if (this.job.mode !== "pull" || registries === undefined || this.job.registryCa !== undefined) return;
    for (const registry of new Set(this.images.map((t) => t.registry))) {
      // Only once an image of the registry turns out to be missing: a proxy that holds every
      // image never asks for credentials, so a run with nothing to pull needs none.
      const presence = this.images
        .filter((t) => t.registry === registry)
        .map((t) => this.early.presence.get(t.reference) ?? Promise.resolve(false));
      const login = Promise.all(presence).then(async (present) => {
        if (present.every((p) => p === true)) return;
        const auth = await registries.credentials(registry);
        if (auth !== undefined && !registries.verified(registry)) await session.login(auth);
      });
      this.early.logins.set(registry, quiet(login));
    }
  }

  /** present? → (pull only) login → pull → verify, for one image. */
  private async sideloadImage(image: AdapterImage): Promise<ProxyResult> {
    const timings: StepTiming[] = [...this.common];
    const attempts = { count: 0 };
    let current: StepName = "present";
    const early = this.early.presence.get(image.reference);
    this.early.presence.delete(image.reference);
    try {
      if (
        await this.step(
          "present",
          timings,
          () => early ?? this.current().hasReference(image.reference),
          image.reference,
        )
      ) {
        return this.row(image, "present", timings);
      }
      if (this.job.mode === "verify") return this.row(image, "missing", timings);
      current = this.relay === undefined ? "login" : "relay";
      // Through the relay, the proxy holds no credential: the relay fetches with this machine's.
      const relay = this.relay;
      const auth =
        relay === undefined
          ? await this.login(image, timings)
          : await this.step("relay", timings, () => relay.prepare(this.current())).then(() => undefined);
      current = "pull";
      await this.step("pull", timings, () => this.pullWithRetries(image, auth, attempts), image.reference);
      current = "verify";
      await this.step("verify", timings, () => this.verify(image), image.reference);
      return this.row(image, "pulled", timings, undefined, attempts.count);
    } catch (error) {
      if (this.relayAfter(error)) return this.sideloadImage(image);
      return this.row(
        image,
        "failed",
        timings,
        { error: await this.withRelayHint(image, error), step: current },
        attempts.count,
      );
    }
  }

  /** `--relay auto`: the proxy's engine cannot reach the registry: from now on, the relay. */
  private relayAfter(error: unknown): boolean {
    const unreachable = error instanceof SideloadError && error.code === "REGISTRY_UNREACHABLE";
    if (!unreachable || this.job.relay?.mode !== "auto" || this.relay !== undefined || this.signal.aborted)
      return false;
    this.relay = this.makeRelay();
    this.relayReason = `the proxy's engine cannot reach the registry (${error.message})`;
    return this.relay !== undefined;
  }

  /** A direct pull that cannot reach a registry this machine reaches: the hint names --relay. */
  private async withRelayHint(image: AdapterImage, error: unknown): Promise<unknown> {
    if (
      !(error instanceof SideloadError) ||
      error.code !== "REGISTRY_UNREACHABLE" ||
      this.relay !== undefined
    )
      return error;
    if (!(await this.job.registries?.reachedFromHere?.(image.registry))) return error;
    return new SideloadError(error.code, error.message, {
      hint: `this machine reaches ${image.registry}, the proxy does not: pull --relay carries the image through the SSH connection`,
      exitStatus: error.exitStatus,
      cause: error,
    });
  }

  /**
   * Once per registry and session: the CA (if asked), then `POST /auth`. A refusal is retried
   * once with fresh credentials when their source can give them.
   */
  private async login(image: AdapterImage, timings: StepTiming[]): Promise<RegistryAuth | undefined> {
    if (this.loggedIn.has(image.registry)) return this.loggedIn.get(image.registry);
    const auth = await this.step(
      "login",
      timings,
      async () => {
        // The workstation's registry check passes before any credential goes out or anything changes.
        const given = await this.job.registries?.credentials(image.registry);
        const session = this.current();
        if (this.job.registryCa !== undefined) {
          this.registryCa = "failed";
          this.registryCa = await session.installCa(image.registry, this.job.registryCa);
        }
        if (given === undefined) return undefined;
        // Accepted by the workstation's check: the pull carries them and meets any refusal first.
        if (this.job.registries?.verified(image.registry)) return given;
        const early = this.early.logins.get(image.registry);
        this.early.logins.delete(image.registry);
        try {
          await (early ?? session.login(given));
          return given;
        } catch (error) {
          const refused = error instanceof SideloadError && error.code === "REGISTRY_UNAUTHORIZED";
          const fresh = refused ? await this.job.registries?.refresh(image.registry) : undefined;
          if (fresh === undefined) throw error;
          await session.login(fresh);
          return fresh;
        }
      },
      image.reference,
    );
    this.loggedIn.set(image.registry, auth);
    return auth;
  }

  /**
   * The pull, re-issued (layers already fetched are kept) after what the proxy can get over: a
   * dropped SSH connection (reopened), an engine that restarted (asked again on the same
   * connection), a stall. A reconnect that fails counts as an attempt and is tried again, until
   * `--retries` or the proxy's deadline is spent.
   */
  private async pullWithRetries(
    image: AdapterImage,
    auth: RegistryAuth | undefined,
    attempts: { count: number },
  ): Promise<void> {
    let engineLost = false;
    for (;;) {
      attempts.count++;
      try {
        if (this.session === undefined) await this.open([]);
        else if (engineLost) await this.current().startEngine();
        engineLost = false;
        const pull = () =>
          this.current().pull(image, auth, (progress) => this.progress(image, progress), {
            stallTimeoutMs: this.job.stallTimeoutMs ?? defaultStallTimeoutMs,
          });
        if (this.relay === undefined) await pull();
        else {
          // A reconnected session needs its forward and line again (the keeper died with the old one).
          await this.relay.prepare(this.current());
          await this.relay.pull(pull, this.signal);
        }
        return;
      } catch (error) {
        const cause = retryCause(error);
        if (cause === undefined || attempts.count > this.job.retries || this.signal.aborted) throw error;
        const backoff = this.deps.backoffMs ?? (cause === "rate-limit" ? rateLimitBackoff : defaultBackoff);
        const delayMs = backoff(attempts.count);
        this.deps.onEvent({
          type: "retry",
          proxy: this.proxy,
          reference: image.reference,
          attempt: attempts.count,
          error: toErrorInfo(error),
          delayMs,
        });
        // An engine that seemed lost on a connection that is gone after all: reconnect.
        if (cause === "connection" || (cause === "engine" && this.connectionGone())) this.close();
        engineLost = cause === "engine";
        // Ends early on the deadline or Ctrl-C; the loop then sees the aborted signal.
        await sleep(delayMs, undefined, { signal: this.signal }).catch(() => undefined);
      }
    }
  }

  private connectionGone(): boolean {
    try {
      return this.session?.connection.closed ?? true;
    } catch {
      return true;
    }
  }

  private progress(image: AdapterImage, progress: PullProgress): void {
    this.deps.onEvent({ type: "pull-progress", proxy: this.proxy, reference: image.reference, progress });
  }

  /** The engine must list exactly the reference the proxy will look up. */
  private async verify(image: AdapterImage): Promise<void> {
    const digests = await this.current().repoDigests(image.reference);
    if (!digests?.some((d) => sameImageReference(image.reference, d))) {
      throw new SideloadError(
        "VERIFY_FAILED",
        `${this.where}: after the pull, the engine does not list ${image.reference} (RepoDigests: ${JSON.stringify(digests ?? [])})`,
        {
          hint: `the engine reported the pull complete but does not list the reference: compare \`docker image inspect ${image.reference}\` on the proxy (the engine's answer) with the pak's digest (the registry's manifest)`,
          exitStatus: 1,
        },
      );
    }
  }

  /** Run a step: timed, announced, and ended by the proxy's deadline or Ctrl-C whatever the far end does. */
  private async step<T>(
    name: StepName,
    timings: StepTiming[],
    run: () => Promise<T>,
    reference?: string,
  ): Promise<T> {
    const ref = reference ? { reference } : {};
    this.deps.onEvent({ type: "step-started", proxy: this.proxy, step: name, ...ref });
    const t0 = Date.now();
    try {
      return await abortable(run(), this.signal);
    } finally {
      const durationMs = Date.now() - t0;
      timings.push({ step: name, durationMs });
      this.deps.onEvent({ type: "step-finished", proxy: this.proxy, step: name, durationMs, ...ref });
    }
  }

  private current(): Session {
    if (!this.session) {
      throw new SideloadError("SSH_DISCONNECTED", `${this.where}: the connection is closed`, {
        exitStatus: 1,
      });
    }
    return this.session;
  }

  private close(): void {
    this.session?.close();
    this.session = undefined;
  }

  /** One row of the report: this proxy, one image, what became of it. */
  private row(
    image: AdapterImage,
    status: ProxyResult["status"],
    steps: StepTiming[],
    failure?: { error: unknown; step: StepName | undefined },
    attempts = 0,
  ): ProxyResult {
    return {
      name: this.proxy.name,
      host: this.proxy.host,
      port: this.proxy.port,
      status,
      reference: image.reference,
      durationMs: Date.now() - this.started,
      transport: this.endpoint?.transport,
      ...(this.endpoint === undefined ? {} : { engine: this.endpoint.socket }),
      ...(failure === undefined
        ? {}
        : { failedStep: failure.step, error: toErrorInfo(this.deadline.explain(failure.error)) }),
      steps,
      ...(attempts > 1 ? { attempts } : {}),
      ...(this.proxy.opsState === undefined || this.proxy.opsState === "UP"
        ? {}
        : { opsState: this.proxy.opsState }),
      ...(this.registryCa === undefined ? {} : { registryCa: this.registryCa }),
      ...(this.relay === undefined || status === "present" ? {} : { via: "relay" as const }),
      ...(this.relayReason === undefined || status === "present" ? {} : { relayReason: this.relayReason }),
    };
  }
}
