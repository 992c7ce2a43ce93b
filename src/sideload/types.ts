import type { ErrorInfo } from "../errors.js";
import type { PullProgress, RegistryAuth } from "../engine/engine.js";
import type { EngineTransport } from "../engine/ssh-agent.js";
import type { Proxy } from "../inventory/proxy.js";
import type { ImageReference } from "../reference.js";

export type StepName = "connect" | "engine" | "present" | "login" | "pull" | "verify";

/** What happened to one reference on one proxy. */
export type ProxyStatus = "pulled" | "present" | "missing" | "failed" | "skipped";

/** An image to put on (or look for on) every proxy. */
export interface AdapterImage extends ImageReference {
  reference: string;
  kind: string;
}

export interface StepTiming {
  step: StepName;
  durationMs: number;
}

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
  /** With --registry-ca: whether the CA was written, already there, or could not be written. */
  registryCa?: "installed" | "unchanged" | "failed";
  error?: ErrorInfo | undefined;
}

export interface BatchReport {
  command: "pull" | "verify";
  references: string[];
  proxies: ProxyResult[];
  summary: { ok: number; failed: number; total: number };
  /** Per registry: where its credentials came from (never the secret), and the workstation's check. */
  registries?: { registry: string; credentialSource: string; check?: string | undefined }[];
}

/** Progress as data: the human renderer draws it, the JSON renderer ignores it, tests read it. */
export type SideloadEvent =
  | { type: "proxy-started"; proxy: Proxy }
  | { type: "step-started"; proxy: Proxy; step: StepName; reference?: string }
  | {
      type: "step-finished";
      proxy: Proxy;
      step: StepName;
      reference?: string;
      durationMs: number;
      detail?: string;
    }
  | { type: "pull-progress"; proxy: Proxy; reference: string; progress: PullProgress }
  | { type: "retry"; proxy: Proxy; reference: string; attempt: number; error: ErrorInfo; delayMs: number }
  | { type: "proxy-finished"; proxy: Proxy; results: ProxyResult[] };

/** A pull whose engine reports no progress for this long is stalled (job.stallTimeoutMs). */
export const defaultStallTimeoutMs = 60_000;

export interface SideloadJob {
  mode: "pull" | "verify";
  images: AdapterImage[];
  /**
   * Settles when the registries have been checked from the workstation and `auth` can answer;
   * rejects when the run must stop. Nothing that sends credentials or changes a proxy (CA,
   * login, pull) happens before it. Absent: ready at once.
   */
  ready?: Promise<void>;
  /** Registry credentials by registry host[:port]; absent for verify. */
  auth?: (registry: string) => RegistryAuth | undefined;
  /**
   * Fresh credentials for a registry that refused the current ones, when their source can give
   * them (a helper's --refresh, a token command); one refresh is shared by every proxy.
   */
  refreshAuth?: (registry: string) => Promise<RegistryAuth | undefined>;
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
}
