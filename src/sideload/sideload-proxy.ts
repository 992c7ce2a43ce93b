import { relayHinted } from "../relay/relay-hint.js";
import { setTimeout as sleep } from "node:timers/promises";
import { SideloadError, printable, toErrorInfo } from "../errors.js";
import { repositoryName, sameImageReference } from "../reference.js";
import type { PullProgress } from "../engine/engine.js";
import type { RegistryAuth } from "../credentials/registry-auth.js";
import type { Proxy } from "../inventory/proxy.js";
import { runProxy, type FrameDeps, type ProxyCommand } from "../session/proxy-frame.js";
import type { ProxyFrame, ProxySteps } from "../session/proxy-frame.js";
import type { CaOutcome, Session } from "../session/proxy-session.js";
import { imagesFor } from "./proxy-images.js";
import type { ProxyRelay } from "../relay/proxy-relay.js";
import { pruneOnEngine, type EnginePrune } from "../prune/prune.js";
import { sideloadSteps, type SideloadSteps } from "../plan/steps.js";
import {
  defaultStallTimeoutMs,
  type AdapterImage,
  type ProxyResult,
  type SideloadEvent,
  type SideloadJob,
  type StepName,
  type StepTiming,
} from "./types.js";

export interface ProxyDeps extends FrameDeps<ProxyResult[]> {
  onEvent: (event: SideloadEvent) => void;
  /** Backoff before re-issuing a dropped pull; tests shorten it. */
  backoffMs?: ((attempt: number) => number) | undefined;
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
 * `pull` or `verify` as a per-proxy command of the frame (session/proxy-frame.ts): connect →
 * engine → for each image: present? → login → pull → verify; then, with --prune, prune. A
 * failure becomes a `failed` row naming the step and the error; the other images go on.
 */
export function sideloadCommand(
  job: SideloadJob,
  options: Pick<ProxyDeps, "backoffMs"> = {},
): ProxyCommand<ProxyResult[]> {
  return {
    timeoutMs: job.timeoutMs,
    steps: (frame) => new ProxyRun(frame, job, options.backoffMs),
    notStarted: (proxy) => imagesFor(proxy, job.images).map((t) => skipped(proxy, t.reference)),
  };
}

/** Prepare one proxy (the frame's `runProxy` of `sideloadCommand`). Never throws. */
export function sideloadProxy(proxy: Proxy, job: SideloadJob, deps: ProxyDeps): Promise<ProxyResult[]> {
  return runProxy(proxy, sideloadCommand(job, deps), deps);
}

/** A proxy the run never started: reported as skipped rather than left out. */
function skipped(proxy: Proxy, reference: string): ProxyResult {
  return {
    name: proxy.name,
    host: proxy.host,
    port: proxy.port,
    status: "skipped",
    reference,
    durationMs: 0,
    steps: [],
    error: { code: "INTERRUPTED", message: `${printable(proxy.name)}: not started: the run was interrupted` },
  };
}

/** The state of one proxy's run; its steps are the methods below, in the order they run. */
class ProxyRun implements ProxySteps<ProxyResult[]> {
  private readonly proxy: Proxy;
  /** The images this proxy works on (all of the job's, or what --only-failed left to it). */
  private readonly images: AdapterImage[];
  /** The steps that run (steps.ts): what the dry run's plan describes. */
  private readonly steps: SideloadSteps;
  /** Timings of connect and engine, shared by every image's row. */
  private readonly common: StepTiming[] = [];
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
    private readonly frame: ProxyFrame<ProxyResult[]>,
    private readonly job: SideloadJob,
    private readonly backoffMs: ((attempt: number) => number) | undefined,
  ) {
    this.proxy = frame.proxy;
    this.images = imagesFor(frame.proxy, job.images);
    this.steps = sideloadSteps(job);
    if (this.steps.image.includes("relay")) this.useRelay();
  }

  /**
   * The hook of `pull --relay`: one object (relay/proxy-relay.ts) whose set-up is the `relay`
   * step, whose pull wraps the engine's, and whose undo is a cleanup of the frame (every path out).
   */
  private useRelay(reason?: string): boolean {
    const registries = [...new Set(this.images.map((i) => i.registry))];
    const relay = this.job.relay?.forProxy(this.proxy, registries, this.frame.where);
    if (relay === undefined) return false;
    this.relay = relay;
    this.relayReason = reason;
    this.frame.onCleanup(async (signal) => {
      const current = this.frame.connected ? this.frame.session() : undefined;
      await relay.undo(current, () => this.frame.spareSession(signal));
    });
    return true;
  }

  async run(): Promise<ProxyResult[]> {
    await this.frame.open(this.common, (session) => this.startEarly(session));
    const results: ProxyResult[] = [];
    for (const image of this.images) {
      results.push(await this.sideloadImage(image));
      if (this.frame.signal.aborted) break;
    }
    // Targets never reached (aborted): reported as skipped rather than left out.
    for (const image of this.images.slice(results.length)) {
      results.push(
        this.row(image, "skipped", [...this.common], { error: this.frame.signal.reason, step: undefined }),
      );
    }
    if (this.steps.after.includes("prune")) await this.prune(results);
    return results;
  }

  /** The session did not open (connect or engine failed): every image's row says so. */
  failed(error: unknown, step: StepName | undefined): ProxyResult[] {
    return this.images.map((t) => this.row(t, "failed", [...this.common], { error, step }));
  }

  /**
   * `pull --prune`, once every image of this proxy is there: the old images of its repositories
   * go (the current digests are every image of the run of those repositories). Each repository's
   * outcome goes on its first row; a failure here leaves the pulls as they are.
   */
  private async prune(results: ProxyResult[]): Promise<void> {
    const prune = this.job.prune;
    const ok = (r: ProxyResult) => r.status === "pulled" || r.status === "present";
    if (prune === undefined || this.frame.signal.aborted || results.length === 0 || !results.every(ok))
      return;
    const repositories = new Set(this.images.map(repositoryName));
    const current = this.job.images.filter((i) => repositories.has(repositoryName(i)));
    const timings: StepTiming[] = [];
    let outcome: EnginePrune;
    try {
      outcome = await this.frame.step(
        "prune",
        () => pruneOnEngine(this.frame.session(), { images: current, keep: prune.keep, dryRun: false }),
        { timings },
      );
    } catch (error) {
      const info = toErrorInfo(this.frame.deadline.explain(error));
      outcome = { removed: [], kept: [], bytesFreed: 0, error: info };
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
    const logsIn = this.steps.image.includes("login");
    if (!logsIn || registries === undefined || this.job.registryCa !== undefined) return;
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

  /** The image's steps (steps.ts: present? → login → pull → verify; verify: present? only). */
  private async sideloadImage(image: AdapterImage): Promise<ProxyResult> {
    const timings: StepTiming[] = [...this.common];
    const attempts = { count: 0 };
    const about = { timings, reference: image.reference };
    let current: StepName = "present";
    let auth: RegistryAuth | undefined;
    try {
      for (const step of this.steps.image) {
        current = step;
        if (step === "present") {
          if (await this.frame.step("present", () => this.present(image), about)) {
            return this.row(image, "present", timings);
          }
        } else if (step === "login" && this.relay === undefined) {
          auth = await this.login(image, timings);
        } else if (step === "relay" || step === "login") {
          // Through the relay the proxy holds no credential: the relay fetches with this machine's.
          const relay = this.relay as ProxyRelay;
          current = "relay";
          await this.frame.step("relay", () => relay.prepare(this.frame.session()), about);
          auth = undefined;
        } else if (step === "pull") {
          await this.frame.step("pull", () => this.pullWithRetries(image, auth, attempts), about);
        } else {
          await this.frame.step("verify", () => this.verify(image), about);
        }
      }
      // Not present, and every step ran: pulled, or (verify, which only looks) missing.
      const status = this.steps.image.includes("pull") ? "pulled" : "missing";
      return this.row(image, status, timings, undefined, attempts.count);
    } catch (error) {
      if (this.relayAfter(error)) return this.sideloadImage(image);
      const shown = await this.withRelayHint(image, error);
      return this.row(image, "failed", timings, { error: shown, step: current }, attempts.count);
    }
  }

  /** `--relay auto`: the proxy's engine cannot reach the registry: from now on, the relay. */
  private relayAfter(error: unknown): boolean {
    const unreachable = error instanceof SideloadError && error.code === "REGISTRY_UNREACHABLE";
    if (!unreachable || this.job.relay?.mode !== "auto" || this.relay !== undefined) return false;
    if (this.frame.signal.aborted) return false;
    return this.useRelay(`the proxy's engine cannot reach the registry (${error.message})`);
  }

  /** A direct pull that cannot reach a registry this machine reaches: the hint names --relay. */
  private async withRelayHint(image: AdapterImage, error: unknown): Promise<unknown> {
    if (!(error instanceof SideloadError) || error.code !== "REGISTRY_UNREACHABLE") return error;
    if (this.relay !== undefined || !(await this.job.registries?.reachedFromHere?.(image.registry)))
      return error;
    return relayHinted(error, image.registry);
  }

  /** The early answer started with the engine check, else the question now. */
  private present(image: AdapterImage): Promise<boolean> {
    const early = this.early.presence.get(image.reference);
    this.early.presence.delete(image.reference);
    return early ?? this.frame.session().hasReference(image.reference);
  }

  /**
   * Once per registry and session: the CA (if asked), then `POST /auth`. A refusal is retried
   * once with fresh credentials when their source can give them.
   */
  private async login(image: AdapterImage, timings: StepTiming[]): Promise<RegistryAuth | undefined> {
    if (this.loggedIn.has(image.registry)) return this.loggedIn.get(image.registry);
    const auth = await this.frame.step(
      "login",
      async () => {
        // The workstation's registry check passes before any credential goes out or anything changes.
        const given = await this.job.registries?.credentials(image.registry);
        const session = this.frame.session();
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
      { timings, reference: image.reference },
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
        if (!this.frame.hasSession) await this.frame.open([], (session) => this.startEarly(session));
        else if (engineLost) await this.frame.session().startEngine();
        engineLost = false;
        const session = this.frame.session();
        const pull = () =>
          session.pull(image, auth, (progress) => this.progress(image, progress), {
            stallTimeoutMs: this.job.stallTimeoutMs ?? defaultStallTimeoutMs,
          });
        if (this.relay === undefined) await pull();
        else {
          // A reconnected session needs its forward and line anew (the keeper died with the old one).
          await this.relay.prepare(session);
          await this.relay.pull(pull, this.frame.signal);
        }
        return;
      } catch (error) {
        const cause = retryCause(error);
        if (cause === undefined || attempts.count > this.job.retries || this.frame.signal.aborted)
          throw error;
        const backoff = this.backoffMs ?? (cause === "rate-limit" ? rateLimitBackoff : defaultBackoff);
        const delayMs = backoff(attempts.count);
        this.frame.emit({
          type: "retry",
          proxy: this.proxy,
          reference: image.reference,
          attempt: attempts.count,
          error: toErrorInfo(error),
          delayMs,
        });
        // An engine that seemed lost on a connection that is gone after all: reconnect.
        if (cause === "connection" || (cause === "engine" && !this.frame.connected)) this.frame.drop();
        engineLost = cause === "engine";
        // Ends early on the deadline or Ctrl-C; the loop then sees the aborted signal.
        await sleep(delayMs, undefined, { signal: this.frame.signal }).catch(() => undefined);
      }
    }
  }

  private progress(image: AdapterImage, progress: PullProgress): void {
    this.frame.emit({ type: "pull-progress", proxy: this.proxy, reference: image.reference, progress });
  }

  /** The engine must list exactly the reference the proxy will look up. */
  private async verify(image: AdapterImage): Promise<void> {
    const digests = await this.frame.session().repoDigests(image.reference);
    if (!digests?.some((d) => sameImageReference(image.reference, d))) {
      throw new SideloadError(
        "VERIFY_FAILED",
        `${this.frame.where}: after the pull, the engine does not list ${image.reference} (RepoDigests: ${JSON.stringify(digests ?? [])})`,
        {
          hint: `the engine reported the pull complete but does not list the reference: compare \`docker image inspect ${image.reference}\` on the proxy (the engine's answer) with the pak's digest (the registry's manifest)`,
        },
      );
    }
  }

  /** One row of the report: this proxy, one image, what became of it. */
  private row(
    image: AdapterImage,
    status: ProxyResult["status"],
    steps: StepTiming[],
    failure?: { error: unknown; step: StepName | undefined },
    attempts = 0,
  ): ProxyResult {
    const endpoint = this.frame.endpoint;
    return {
      name: this.proxy.name,
      host: this.proxy.host,
      port: this.proxy.port,
      status,
      reference: image.reference,
      durationMs: Date.now() - this.frame.started,
      transport: endpoint?.transport,
      ...(endpoint === undefined ? {} : { engine: endpoint.socket }),
      ...(failure === undefined
        ? {}
        : { failedStep: failure.step, error: toErrorInfo(this.frame.deadline.explain(failure.error)) }),
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
