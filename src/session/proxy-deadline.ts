import { SideloadError } from "../errors.js";

/**
 * One proxy's time: its own `--timeout` and the run's signal (Ctrl-C, SIGTERM, SIGHUP) as one
 * signal, and what an error becomes when either cut the work short. Shared by `pull`/`verify`
 * and `doctor`, so both report a cut-short proxy the same way.
 */
export class ProxyDeadline {
  private readonly timeout: AbortSignal;
  /** Aborts at the proxy's deadline or when the run is interrupted. */
  readonly signal: AbortSignal;

  constructor(
    private readonly timeoutMs: number,
    run: AbortSignal | undefined,
    /** How messages name the proxy. */
    private readonly where: string,
  ) {
    this.timeout = AbortSignal.timeout(timeoutMs);
    this.signal = run ? AbortSignal.any([run, this.timeout]) : this.timeout;
  }

  /** `error`, or TIMEOUT / INTERRUPTED (naming the signal) when the deadline or the run ended it. */
  explain(error: unknown): unknown {
    if (!this.signal.aborted) return error;
    if (this.timeout.aborted) {
      return new SideloadError(
        "TIMEOUT",
        `${this.where}: did not finish within ${Math.round(this.timeoutMs / 1000)} s`,
        {
          hint: "raise --timeout, or check what the proxy is waiting for with --debug",
        },
      );
    }
    const reason: unknown = this.signal.reason;
    return new SideloadError(
      "INTERRUPTED",
      `${this.where}: ${reason instanceof SideloadError ? reason.message : "interrupted"}`,
      { signal: reason instanceof SideloadError ? reason.signal : undefined },
    );
  }
}
