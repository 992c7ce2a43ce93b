/**
 * `doctor`: is each proxy ready for a sideload? One row of checks per proxy, each `pass`,
 * `warn` or `fail` with a hint. Changes nothing (but the /etc/hosts lines of killed `pull --relay` runs,
 * which it removes and reports): it reads (the engine's API, `df`, the
 * CA file over SFTP) and asks the registry through the engine's `POST /auth`.
 */
import { relayHinted } from "../relay/relay-hint.js";
import type { RelayMark } from "../relay/hosts-file.js";
import { removeStaleHostsLines } from "../relay/proxy-hosts.js";
import { abortable } from "../abortable.js";
import { SideloadError, printable, toErrorInfo, type ErrorCode } from "../errors.js";
import { isPlainPath } from "../engine/disk-full.js";
import type { RegistryAuth } from "../credentials/registry-auth.js";
import type { Proxy } from "../inventory/proxy.js";
import type { StepName, StepSubject } from "../session/events.js";
import { runProxies, type ProxyCommand, type ProxySteps } from "../session/proxy-frame.js";
import type { FrameDeps, ProxyFrame } from "../session/proxy-frame.js";
import {
  caPath,
  defaultDockerSocket,
  type BecomeMethod,
  type EngineEndpoint,
  type Session,
} from "../session/proxy-session.js";
import { pruneOnEngine } from "../prune/prune.js";
import { runDefaults } from "../resolve/inputs.js";
import type { AdapterImage } from "../sideload/types.js";

export type Verdict = "pass" | "warn" | "fail";

export interface DoctorCheck {
  /** `ssh`, `engine`, `transport`, `disk`, `clock`, `image <ref>`, `registry <host>`, `ca <host>`. */
  check: string;
  verdict: Verdict;
  detail: string;
  code?: ErrorCode | undefined;
  hint?: string | undefined;
}

export interface DoctorRow {
  name: string;
  host: string;
  port: number;
  /** The worst verdict of its checks. */
  verdict: Verdict;
  durationMs: number;
  checks: DoctorCheck[];
}

export interface DoctorReport {
  command: "doctor";
  references: string[];
  proxies: DoctorRow[];
  summary: { pass: number; warn: number; fail: number; total: number };
}

/** What a doctor run knows before it connects. */
export interface DoctorJob {
  /** With --pak: the references to look for and the registries to probe. */
  images: AdapterImage[];
  /** Credentials per registry, when some source has them (never asked for). */
  auth: (registry: string) => RegistryAuth | undefined;
  /** Bytes each reference needs (from the registry's manifest), when the workstation could tell. */
  imageBytes?: number | undefined;
  /** PEM of --registry-ca, to compare with each proxy's. */
  registryCa?: string | undefined;
  /** This machine's check reached the registry: a proxy that cannot is told of --relay. */
  reachedFromHere?: ((registry: string) => boolean) | undefined;
  timeoutMs: number;
}

/** The frame's deps (each check is a step: its events are the live board's line). */
export interface DoctorDeps extends FrameDeps<DoctorRow> {
  now?: () => number;
}

/** Free space below which the disk check warns or fails when the image's size is unknown. */
export const diskThresholds = { failBelow: 1024 ** 3, warnBelow: 5 * 1024 ** 3 };
/** Clock skew past which TLS and registry tokens start to fail. */
export const clockThresholds = { warnAboveMs: 30_000, failAboveMs: 300_000 };

const order: Record<Verdict, number> = { pass: 0, warn: 1, fail: 2 };

/** Every proxy through the one batch; proxies not started when interrupted are not run. */
export async function runDoctor(
  proxies: Proxy[],
  job: DoctorJob,
  deps: DoctorDeps & { concurrency: number },
): Promise<DoctorReport> {
  const rows = await runProxies(proxies, doctorCommand(job, deps), deps);
  const count = (v: Verdict) => rows.filter((r) => r.verdict === v).length;
  return {
    command: "doctor",
    references: job.images.map((t) => t.reference),
    proxies: rows,
    summary: { pass: count("pass"), warn: count("warn"), fail: count("fail"), total: rows.length },
  };
}

/** `doctor` as a per-proxy command of the frame (session/proxy-frame.ts): its checks are its steps. */
export function doctorCommand(job: DoctorJob, deps: Pick<DoctorDeps, "now"> = {}): ProxyCommand<DoctorRow> {
  return {
    timeoutMs: job.timeoutMs,
    steps: (frame) => new DoctorRun(frame, job, deps.now ?? Date.now),
    notStarted: (proxy) =>
      row(proxy, 0, [
        {
          check: "ssh",
          verdict: "fail",
          detail: "not started: the run was interrupted",
          code: "INTERRUPTED",
        },
      ]),
  };
}

/** The checks of one proxy, in the order they run; a check that fails is its row's `fail`. */
class DoctorRun implements ProxySteps<DoctorRow> {
  private readonly checks: DoctorCheck[] = [];

  constructor(
    private readonly frame: ProxyFrame<DoctorRow>,
    private readonly job: DoctorJob,
    private readonly now: () => number,
  ) {}

  async run(): Promise<DoctorRow> {
    const { frame, job } = this;
    const proxy = frame.proxy;
    // connect and engine are the frame's own steps; their checks read what they found.
    const connected = await this.check("ssh", async () => {
      const session = await frame.connect();
      const detail = `connected as ${proxy.user}; host key known; authenticated by ${session.authMethod ?? "?"}`;
      return { verdict: "pass", detail };
    });
    if (!connected) return this.row();
    const session = frame.session();
    if (!(await this.check("engine", () => this.engineCheck(session)))) return this.row();
    await this.check("transport", () => transportCheck(session), { step: "transport" });
    const info = await session.info().catch((error: unknown) => error);
    await this.check("disk", () => checkDisk(session, info, job.imageBytes, job.images), { step: "disk" });
    const clock = () => Promise.resolve(checkClock(info, this.now()));
    await this.check("clock", clock, { step: "clock" });
    for (const image of job.images) {
      const reference = image.reference;
      await this.check(
        `image ${reference}`,
        async () =>
          (await session.hasReference(reference))
            ? { verdict: "pass", detail: "present" }
            : { verdict: "pass", detail: "not present yet: mp-sideload pull puts it there" },
        { step: "image", reference },
      );
    }
    for (const registry of [...new Set(job.images.map((t) => t.registry))]) {
      const auth = job.auth(registry);
      const relayHint = job.reachedFromHere?.(registry) === true;
      await this.check(`registry ${registry}`, () => checkRegistry(session, registry, auth, relayHint), {
        step: "registry",
        registry,
      });
      const ca = () => checkCa(session, registry, job.registryCa);
      await this.check(`ca ${registry}`, ca, { step: "ca", registry });
    }
    await this.staleRelayLines(session);
    return this.row();
  }

  /**
   * `pull --relay` lines that killed runs left in the proxy's /etc/hosts (their keeper gone):
   * removed, and a `relay` row says so. No row when there are none, or when reading the file as
   * root is not possible here (no root, no become).
   */
  private async staleRelayLines(session: Session): Promise<void> {
    const where = this.frame.where;
    let removed: RelayMark[];
    try {
      removed = await abortable(removeStaleHostsLines(session, where), this.frame.signal);
    } catch (error) {
      if (error instanceof SideloadError && error.code === "RELAY_NEEDS_ROOT") return;
      this.checks.push(failed("relay", error));
      return;
    }
    if (removed.length === 0) return;
    const lines = removed.map((m) => `${m.host} (run ${m.runId})`).join(", ");
    this.checks.push({
      check: "relay",
      verdict: "warn",
      detail: `removed /etc/hosts lines left by killed pull --relay runs: ${lines}`,
      hint: "nothing more to do: the file is as it was before those runs",
    });
  }

  failed(error: unknown, step: StepName | undefined): DoctorRow {
    this.checks.push(failed(step === undefined || step === "connect" ? "ssh" : step, error));
    return this.row();
  }

  /**
   * Run one check: as a step of the frame (`step`), or around one the frame runs itself
   * (connect, engine); an error becomes its `fail`. False: it failed.
   */
  private async check(
    name: string,
    run: () => Promise<Omit<DoctorCheck, "check">>,
    as?: { step: StepName } & StepSubject,
  ): Promise<boolean> {
    try {
      const { step, ...subject } = as ?? {};
      const work =
        step === undefined ? abortable(run(), this.frame.signal) : this.frame.step(step, run, subject);
      this.checks.push({ check: name, ...(await work) });
      return true;
    } catch (error) {
      this.checks.push(failed(name, this.frame.deadline.explain(error)));
      return false;
    }
  }

  private async engineCheck(session: Session): Promise<Omit<DoctorCheck, "check">> {
    const v = await this.frame.startEngine();
    const detail = `Docker ${v.version} (API ${v.apiVersion}) over ${session.transport ?? "?"}${engineAt(session.endpoint)}${becomeOf(session.become)}`;
    const other = await otherDockerHost(session);
    if (other === undefined) return { verdict: "pass", detail };
    return {
      verdict: "warn",
      detail: `${detail}; the SSH user's DOCKER_HOST names another engine: ${printable(other)}`,
      hint: "mp-sideload pulls into the engine at /var/run/docker.sock, the one a cloud proxy's runtime installs from; if the proxy's runtime uses the other one, set that proxy's dockerSocket in the inventory",
    };
  }

  private row(): DoctorRow {
    return row(this.frame.proxy, this.frame.started, this.checks);
  }
}

/** Whether the transport not in use works too: a warning when only dial-stdio does. */
async function transportCheck(session: Session): Promise<Omit<DoctorCheck, "check">> {
  if (session.become !== undefined) {
    return {
      verdict: "pass",
      detail: "dial-stdio through sudo (become): a stream-local forward cannot run as another user",
    };
  }
  const other = await session.probeOtherTransport();
  if (other.error === undefined) return { verdict: "pass", detail: `${other.transport} works too` };
  if (session.transport === "stream-local") {
    return {
      verdict: "pass",
      detail: `${other.transport} does not (${toErrorInfo(other.error).message}); not needed`,
    };
  }
  return {
    verdict: "warn",
    detail: `stream-local forwarding does not work, so each engine call starts a docker CLI (dial-stdio)`,
    hint: "allow it in the proxy's sshd_config (AllowStreamLocalForwarding yes, AllowTcpForwarding local or yes) for faster runs",
  };
}

const gib = (n: number) => `${(n / 1024 ** 3).toFixed(1)} GiB`;
/** Small sizes in MiB: a few old builds of a lab adapter are not "0.0 GiB". */
const size = (n: number) => (n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : gib(n));

async function checkDisk(
  session: Session,
  info: unknown,
  imageBytes: number | undefined,
  images: AdapterImage[],
): Promise<Omit<DoctorCheck, "check">> {
  if (info instanceof Error) throw info;
  const { rootDir } = info as { rootDir: string };
  // The path reaches a shell on the proxy: plain path characters only.
  if (!isPlainPath(rootDir)) {
    return {
      verdict: "warn",
      detail: `cannot measure: the engine's data root ${JSON.stringify(rootDir)} is not a plain path`,
    };
  }
  const free = await session.freeBytesUnder(rootDir);
  if (free === undefined) {
    return { verdict: "warn", detail: `cannot measure the free space under ${rootDir} (df did not tell)` };
  }
  // An image unpacks to about twice its compressed size, and the vfs driver copies layers.
  const need = imageBytes === undefined ? diskThresholds.failBelow : imageBytes * 3;
  const comfortable = imageBytes === undefined ? diskThresholds.warnBelow : imageBytes * 6;
  const against =
    imageBytes === undefined ? "the default thresholds" : `the image's ${gib(imageBytes)} (x3 to unpack)`;
  const detail = `${gib(free)} free under ${rootDir}, against ${against}`;
  if (free >= comfortable) return { verdict: "pass", detail };
  const old = await oldImages(session, images);
  const verdict = free < need ? "fail" : "warn";
  if (old !== undefined) {
    return {
      verdict,
      detail: `${detail}; ${old.count} old image${old.count === 1 ? "" : "s"} of the pak's repositories take ${size(old.bytes)}`,
      hint: `\`mp-sideload prune PAK… --dry-run\` lists the old adapter images it would remove (then without --dry-run); \`docker image prune\` on the proxy removes dangling ones`,
    };
  }
  if (verdict === "fail")
    return {
      verdict,
      detail,
      hint: "free space on the proxy (docker image prune, or grow the disk)",
    };
  return { verdict, detail, hint: "little room left for the next images" };
}

/**
 * What `prune` (with its default --keep) would remove of the pak's repositories, when that is
 * anything: so that the disk hint names it only when old adapter images are part of what fills
 * the disk. Undefined without --pak, or when the engine cannot tell.
 */
async function oldImages(
  session: Session,
  images: AdapterImage[],
): Promise<{ count: number; bytes: number } | undefined> {
  if (images.length === 0) return undefined;
  try {
    // prune's own selection, as a dry run: what it would remove is exactly what is counted here.
    const { removed } = await pruneOnEngine(session, { images, keep: runDefaults.keep, dryRun: true });
    const whole = removed.filter((c) => !c.untagOnly);
    if (whole.length === 0) return undefined;
    return { count: whole.length, bytes: whole.reduce((n, c) => n + c.size, 0) };
  } catch {
    return undefined;
  }
}

function checkClock(info: unknown, now: number): Omit<DoctorCheck, "check"> {
  if (info instanceof Error) throw info;
  const proxyTime = Date.parse((info as { systemTime: string }).systemTime);
  if (!Number.isFinite(proxyTime)) return { verdict: "warn", detail: "the engine did not report its time" };
  const skew = proxyTime - now;
  const detail = `the proxy's clock is ${Math.abs(Math.round(skew / 1000))} s ${skew >= 0 ? "ahead of" : "behind"} this machine's`;
  const hint = "fix NTP on the proxy: TLS certificates and registry tokens fail with a skewed clock";
  if (Math.abs(skew) > clockThresholds.failAboveMs) return { verdict: "fail", detail, hint };
  if (Math.abs(skew) > clockThresholds.warnAboveMs) return { verdict: "warn", detail, hint };
  return { verdict: "pass", detail };
}

/**
 * The registry from the proxy's network position, through the engine's `POST /auth`: with
 * credentials it checks them too; without, an anonymous login tells DNS, refused, timeout and
 * trust apart, and a refusal then only means "reachable; credentials not checked".
 */
async function checkRegistry(
  session: Session,
  registry: string,
  auth: RegistryAuth | undefined,
  relayHint: boolean,
): Promise<Omit<DoctorCheck, "check">> {
  try {
    await session.login(auth ?? { username: "", password: "", serveraddress: registry });
    return {
      verdict: "pass",
      detail: auth
        ? "reachable, trusted, credentials accepted"
        : "reachable and trusted; allows anonymous logins",
    };
  } catch (error) {
    if (auth === undefined && error instanceof SideloadError && error.code === "REGISTRY_UNAUTHORIZED") {
      return {
        verdict: "pass",
        detail: "reachable and trusted (no credentials found on this machine: they were not checked)",
      };
    }
    if (relayHint && error instanceof SideloadError && error.code === "REGISTRY_UNREACHABLE") {
      throw relayHinted(error, registry);
    }
    throw error;
  }
}

async function checkCa(
  session: Session,
  registry: string,
  wanted: string | undefined,
): Promise<Omit<DoctorCheck, "check">> {
  const file = caPath(registry);
  const current = await session.readCa(registry);
  if (wanted === undefined) {
    return {
      verdict: "pass",
      detail: current === undefined ? `no ${file} (the system's trust applies)` : `${file} present`,
    };
  }
  if (current === wanted) return { verdict: "pass", detail: `${file} matches --registry-ca` };
  return {
    verdict: "warn",
    detail: current === undefined ? `no ${file}` : `${file} differs from --registry-ca`,
    hint: "mp-sideload pull --registry-ca FILE installs it",
  };
}

function failed(check: string, error: unknown): DoctorCheck {
  const info = toErrorInfo(error);
  return { check, verdict: "fail", detail: info.message, code: info.code, hint: info.hint };
}

function row(proxy: Proxy, started: number, checks: DoctorCheck[]): DoctorRow {
  const verdict = checks.reduce<Verdict>(
    (worst, c) => (order[c.verdict] > order[worst] ? c.verdict : worst),
    "pass",
  );
  return {
    name: proxy.name,
    host: proxy.host,
    port: proxy.port,
    verdict,
    durationMs: started === 0 ? 0 : Date.now() - started,
    checks,
  };
}

/** "; as root through sudo (NOPASSWD)", for the engine check's detail with become. */
function becomeOf(become: BecomeMethod | undefined): string {
  if (become === undefined) return "";
  return `; as ${become.user} through ${become.method} (${become.withPassword ? "with the sudo password on stdin" : "NOPASSWD"})`;
}

/** " at SOCKET (where it came from)", for the engine check's detail. */
function engineAt(endpoint: EngineEndpoint | undefined): string {
  if (endpoint === undefined) return "";
  const from = {
    inventory: "the inventory's dockerSocket",
    default: "the default",
    DOCKER_HOST: "the proxy's DOCKER_HOST",
  };
  return ` at ${printable(endpoint.socket)} (${from[endpoint.source]})`;
}

/**
 * The proxy's DOCKER_HOST when it names an engine other than the default socket in use (doctor
 * only: `pull` never opens a session for it, and uses the default socket when it answers).
 */
async function otherDockerHost(session: Session): Promise<string | undefined> {
  // Through sudo the environment is reset: the SSH user's DOCKER_HOST does not reach the CLI.
  if (session.endpoint?.source !== "default" || session.become !== undefined) return undefined;
  const dockerHost = await session.dockerHost();
  const same = ["", `unix://${defaultDockerSocket}`, "unix:///run/docker.sock"];
  return same.includes(dockerHost) ? undefined : dockerHost;
}
