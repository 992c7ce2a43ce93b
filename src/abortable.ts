/**
 * Bounded waiting. Not every call can be cancelled where it waits (dockerode's image inspect
 * takes no AbortSignal; an SSH exec channel to a hung command never closes), so every wait on
 * a proxy is raced against the run's signal: the caller is released at once, and the owner of
 * the connection then destroys it, which ends whatever was still pending on it.
 */

/** `work`, or a rejection with `signal.reason` as soon as `signal` aborts, whichever is first. */
export function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) {
    work.catch(() => undefined); // abandoned: its later failure is nobody's concern
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
