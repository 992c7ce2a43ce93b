/**
 * A vitest reporter that ends the run with the plain line CI systems read: `N passed, N failed`
 * (and `, N skipped` when some were). The default reporter's summary is coloured and framed.
 */
import type { Reporter, RunnerTask, RunnerTestFile } from "vitest";

export default class PlainSummary implements Reporter {
  onFinished(files: RunnerTestFile[] = []): void {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    const visit = (task: RunnerTask) => {
      if (task.type === "test") {
        const state = task.result?.state;
        if (state === "pass") counts.passed++;
        else if (state === "fail") counts.failed++;
        else counts.skipped++;
      } else if ("tasks" in task) {
        task.tasks.forEach(visit);
      }
    };
    files.forEach(visit);
    const skipped = counts.skipped > 0 ? `, ${counts.skipped} skipped` : "";
    process.stdout.write(`\n${counts.passed} passed, ${counts.failed} failed${skipped}\n`);
  }
}
