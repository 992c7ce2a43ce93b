import type { ErrorInfo } from "../errors.js";
import type { PullProgress, RegistryAuth } from "../engine/engine.js";
import type { EngineTransport } from "../engine/ssh-agent.js";
import type { Proxy } from "../inventory/proxy.js";
import type { AdapterImage } from "../pak/read-paks.js";
import type { Coverage } from "./coverage.js";

export type StepName = "connect" | "engine" | "present" | "login" | "pull" | "verify";

/** What happened to one reference on one proxy. */
export type ProxyStatus = "pulled" | "present" | "missing" | "failed" | "skipped";

export type { AdapterImage } from "../pak/read-paks.js";

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
  /** VCF Operations reported the proxy DOWN: it was still tried (the image must be there when it is back). */
  opsState?: string | undefined;
  /** With --registry-ca: whether the CA was written, already there, or could not be written. */
  registryCa?: "installed" | "unchanged" | "failed";
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
}

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
  /** Re-issues of a pull whose connection dropped. */
  retries: number;
  /** Per-proxy time limit. */
  timeoutMs: number;
  /** PEM of a registry CA to install as /etc/docker/certs.d/<REGISTRY>/ca.crt before login. */
  registryCa?: string | undefined;
}
