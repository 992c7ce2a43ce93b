import type { ErrorInfo } from "../errors.js";
import type { RegistryAuth } from "../credentials/registry-auth.js";
import type { EngineTransport } from "../engine/ssh-agent.js";
import type { Proxy } from "../inventory/proxy.js";
import type { AdapterImage } from "../pak/read-paks.js";
import type { ProxyRelay } from "../relay/proxy-relay.js";
import type { ProxyEvent, StepName, StepTiming } from "../session/events.js";
import type { PrunedImage } from "../prune/prune.js";

export type { StepName, StepTiming } from "../session/events.js";

/** What happened to one reference on one proxy. */
export type ProxyStatus = "pulled" | "present" | "missing" | "failed" | "skipped";

export type { AdapterImage } from "../pak/read-paks.js";

/** The result for one proxy and one reference: one row of the report. */
export interface ProxyResult {
  name: string;
  host: string;
  port: number;
  status: ProxyStatus;
  reference: string;
  durationMs: number;
  transport?: EngineTransport | undefined;
  /** The engine's socket on the proxy (or a TCP/SSH DOCKER_HOST the proxy's docker CLI follows). */
  engine?: string | undefined;
  /** The step that failed, when status is failed. */
  failedStep?: StepName | undefined;
  steps: StepTiming[];
  attempts?: number;
  /** VCF Operations reported the proxy DOWN: it was still tried (the image must be there when it is back). */
  opsState?: string | undefined;
  /** With --registry-ca: whether the CA was written, already there, or could not be written. */
  registryCa?: "installed" | "unchanged" | "failed";
  error?: ErrorInfo | undefined;
  /** `pull --prune`: the old images of this row's repository removed from the proxy. */
  prune?: RowPrune | undefined;
  /** `pull --relay`: the image came through the relay (with `--relay auto`, why). */
  via?: "relay" | undefined;
  relayReason?: string | undefined;
}

/** What `pull --prune` removed of one repository on one proxy (on its first row of that repository). */
export interface RowPrune {
  removed: PrunedImage[];
  /** Sizes of the images the engine deleted, as it lists them. */
  bytesFreed: number;
  /** The prune failed or an image was refused; the pull itself stands. */
  error?: ErrorInfo | undefined;
}

export interface BatchReport {
  command: "pull" | "verify";
  references: string[];
  proxies: ProxyResult[];
  summary: { ok: number; failed: number; total: number };
  /** Per collector group (targets from VCF Operations): members holding every reference. */
  coverage?: Coverage | undefined;
  /** Per registry: where its credentials came from (never the secret), and the workstation's check. */
  registries?: { registry: string; credentialSource: string; check?: string | undefined }[];
}

/** A `pull`/`verify` proxy's events (session/events.ts): it ends with one row per image. */
export type SideloadEvent = ProxyEvent<ProxyResult[]>;

/** What a proxy that must pull asks of the run for a registry's credentials. */
export interface RegistryCredentials {
  /**
   * The credentials for `registry` (host[:port] as in the reference), once the workstation's
   * check passed; undefined for an anonymous registry. Rejects when the run must stop (refused
   * credentials, no such manifest, no credentials and no terminal to ask in).
   */
  credentials(registry: string): Promise<RegistryAuth | undefined>;
  /**
   * Fresh credentials after a proxy's login was refused, when their source can give them (a
   * helper's --refresh, a token command); one refresh is shared by every proxy.
   */
  refresh(registry: string): Promise<RegistryAuth | undefined>;
  /**
   * True once the workstation's check found every image of `registry` there with exactly these
   * credentials: the proxy's own `POST /auth` would only repeat it, and its pull, which carries
   * the same credentials, meets any refusal before anything changes.
   */
  verified(registry: string): boolean;
  /** True when this machine's check reached `registry` (its answer, whatever it was). */
  reachedFromHere?(registry: string): Promise<boolean>;
}

/**
 * `pull --relay`: the relay for every proxy (`all`) or only for those whose engine cannot reach
 * the registry (`auto`: tried directly first; REGISTRY_UNREACHABLE on the proxy sends it through
 * the relay). `forProxy` makes the proxy's relay object (src/relay/proxy-relay.ts).
 */
export interface RelayPlan {
  mode: "all" | "auto";
  forProxy(proxy: Proxy, registries: string[], where: string): ProxyRelay;
}

/** A pull whose engine reports no progress for this long is stalled (job.stallTimeoutMs). */
export const defaultStallTimeoutMs = 60_000;

export interface SideloadJob {
  mode: "pull" | "verify";
  images: AdapterImage[];
  /**
   * The registry credentials for the proxies (pull only), owned by the run's RegistryGate:
   * asked for only by a proxy that must pull, and given only once the registry passed its
   * check from the workstation. Nothing that sends credentials or changes a proxy (CA, login,
   * pull) happens before that.
   */
  registries?: RegistryCredentials | undefined;
  /**
   * Re-issues of a pull whose connection dropped, whose engine restarted or that stalled
   * (failed reconnects count too).
   */
  retries: number;
  /**
   * Fail a pull attempt with PULL_STALLED when the engine reports no progress for this long
   * (then re-issued within `retries`). Absent: 60 s (`defaultStallTimeoutMs`).
   */
  stallTimeoutMs?: number | undefined;
  /** Per-proxy time limit. */
  timeoutMs: number;
  /** PEM of a registry CA to install as /etc/docker/certs.d/<REGISTRY>/ca.crt before login. */
  registryCa?: string | undefined;
  /**
   * `pull --prune`: once every image of a proxy is verified (or present), remove the old images
   * of its repositories there, keeping `keep` besides the current ones (prune-select.ts).
   */
  prune?: { keep: number } | undefined;
  /** `pull --relay`: the run's relay. */
  relay?: RelayPlan | undefined;
}

/** The verdict for one collector group; JSON-friendly. */
export interface GroupCoverage {
  group: string;
  /** Its cloud-proxy members. */
  members: string[];
  /** Members that hold every reference (status present or pulled for each). */
  holding: string[];
  /** Members checked that lack at least one reference (or failed). */
  lacking: string[];
  /** Members with no result in this run (left out by --limit, --only-failed…). */
  unchecked: string[];
  /**
   * `ready`: every member holds every reference; `partial`: some do, some do not (called
   * out); `none`: no member does; `unknown`: none lacks one, but some were not checked.
   */
  state: "ready" | "partial" | "none" | "unknown";
  ready: boolean;
}

export interface Coverage {
  groups: GroupCoverage[];
  /** Every group involved is ready. */
  ready: boolean;
  /** Names of the groups whose state is `partial`: the ones to call out. */
  partial: string[];
}
