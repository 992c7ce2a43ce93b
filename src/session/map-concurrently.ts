/**
 * `work` on every item, at most `concurrency` at once, results in the items' order. Items not
 * started once `signal` aborts get `notStarted(item)` instead: a run interrupted part-way still
 * reports every item.
 */
export async function mapConcurrently<T, R>(
  items: T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
  notStarted: (item: T) => R,
  signal?: AbortSignal,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const index = next++;
      if (index >= items.length) return;
      const item = items[index] as T;
      results[index] = signal?.aborted ? notStarted(item) : await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return results;
}
