/**
 * Progress as data, the same for every per-proxy command (`pull`, `verify`, `doctor`, `prune`):
 * the frame (proxy-frame.ts) emits it, the live board, `--debug` and the tests read it, and the
 * row each proxy ends with (`proxy-finished`) is what the JSON and JUnit reports are made of.
 */
import type { ErrorInfo } from "../errors.js";
import type { PullProgress } from "../engine/pull-progress.js";
import type { Proxy } from "../inventory/proxy.js";

/**
 * Every step a command runs on a proxy. `connect` and `engine` open the session (the frame's);
 * `present` … `prune` are pull's and verify's (`prune` is `pull --prune`, once every image is
 * verified, and `prune`'s own step); `transport` … `ca` are doctor's checks.
 */
export type StepName =
  | "connect"
  | "engine"
  | "present"
  | "login"
  | "pull"
  | "verify"
  | "prune"
  | "transport"
  | "disk"
  | "clock"
  | "image"
  | "registry"
  | "ca";

export interface StepTiming {
  step: StepName;
  durationMs: number;
}

/** What a step is about, when it is about one image or one registry. */
export interface StepSubject {
  reference?: string;
  registry?: string;
}

/**
 * One proxy's progress. `Row` is what the command's proxy ends with: a `pull`/`verify` proxy's
 * rows (one per image), a doctor row, a prune row.
 */
export type ProxyEvent<Row = unknown> =
  | { type: "proxy-started"; proxy: Proxy }
  | ({ type: "step-started"; proxy: Proxy; step: StepName } & StepSubject)
  | ({
      type: "step-finished";
      proxy: Proxy;
      step: StepName;
      durationMs: number;
      detail?: string;
    } & StepSubject)
  | { type: "pull-progress"; proxy: Proxy; reference: string; progress: PullProgress }
  | { type: "retry"; proxy: Proxy; reference: string; attempt: number; error: ErrorInfo; delayMs: number }
  | { type: "proxy-finished"; proxy: Proxy; results: Row };
