/**
 * Live progress of a batch in a terminal: one line per running proxy (spinner, name, step,
 * bytes pulled of the image's total, elapsed time), finished proxies collapsing into `ok` /
 * `failed` lines above, and a bottom line with the counts. It scrolls what does not fit the
 * terminal's height (keeping the counts line), follows resizes, and uses no colour with
 * NO_COLOR. Only for interactive runs: piped output gets the plain lines of `batch.ts`.
 */
import { oneLine, printable } from "../../errors.js";
import type { Proxy } from "../../inventory/proxy.js";
import type { SideloadEvent, StepName } from "../../sideload/types.js";

export interface BoardOutput {
  /** Write to the terminal as is: escape sequences included (the board sanitises what it prints). */
  write(text: string): void;
  columns(): number;
  rows(): number;
  color: boolean;
}

interface Running {
  proxy: Proxy;
  step: StepName | "waiting";
  started: number;
  bytesDone: number;
  bytesTotal: number;
}

const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/** The lines of the board, given its state: pure, so tests can check layout at any size. */
export function boardLines(
  running: Running[],
  counts: { ok: number; failed: number; total: number },
  options: { rows: number; columns: number; frame: number; now: number },
): string[] {
  // Leave room for the counts line and the line the cursor sits on.
  const room = Math.max(1, options.rows - 2);
  const shown = running.length > room ? running.slice(0, room - 1) : running;
  const lines = shown.map((r) => {
    const elapsed = `${((options.now - r.started) / 1000).toFixed(1)}s`;
    const bytes =
      r.step === "pull" && r.bytesTotal > 0 ? ` ${mib(r.bytesDone)}/${mib(r.bytesTotal)} MiB` : "";
    return fit(
      `${frames[options.frame % frames.length]} ${printable(r.proxy.name)}  ${r.step}${bytes}  ${elapsed}`,
      options.columns,
    );
  });
  if (shown.length < running.length)
    lines.push(fit(`  … and ${running.length - shown.length} more running`, options.columns));
  const done = counts.ok + counts.failed;
  lines.push(
    fit(
      `${done}/${counts.total} done: ${counts.ok} ok, ${counts.failed} failed, ${running.length} running`,
      options.columns,
    ),
  );
  return lines;
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

function fit(line: string, columns: number): string {
  const width = Math.max(10, columns - 1);
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

/** The live board; feed it the batch's events, and `stop()` it before printing the summary. */
export class LiveBoard {
  private readonly running = new Map<string, Running>();
  private readonly counts = { ok: 0, failed: 0, total: 0 };
  private drawn = 0;
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly out: BoardOutput) {}

  /** Start drawing, for a batch of `total` proxies. */
  start(total: number): this {
    this.counts.total = total;
    this.timer = setInterval(() => this.draw(), 100);
    this.timer.unref();
    return this;
  }

  readonly onEvent = (event: SideloadEvent): void => {
    const key = event.proxy.name;
    if (event.type === "proxy-started") {
      this.running.set(key, {
        proxy: event.proxy,
        step: "waiting",
        started: Date.now(),
        bytesDone: 0,
        bytesTotal: 0,
      });
    } else if (event.type === "step-started") {
      const r = this.running.get(key);
      if (r) r.step = event.step;
    } else if (event.type === "pull-progress") {
      const r = this.running.get(key);
      if (r) {
        r.bytesDone = event.progress.bytesDone;
        r.bytesTotal = event.progress.bytesTotal;
      }
    } else if (event.type === "proxy-finished") {
      this.running.delete(key);
      const failed = event.results.filter(
        (r) => r.status === "failed" || r.status === "missing" || r.status === "skipped",
      );
      if (failed.length === 0) this.counts.ok++;
      else this.counts.failed++;
      const first = failed[0];
      const mark = first ? this.paint("31", "failed") : this.paint("32", "ok    ");
      const seconds = `${(Math.max(...event.results.map((r) => r.durationMs), 0) / 1000).toFixed(1)}s`;
      const why = first?.error
        ? `  ${first.error.code}: ${oneLine(first.error.message, 160)}`
        : `  ${event.results.map((r) => r.status).join(", ")}`;
      this.permanent(fit(`${mark} ${printable(event.proxy.name)}  ${seconds}${why}`, this.out.columns() + 9));
    }
    this.draw();
  };

  /** Run `question` with the board erased and still, then draw it again. */
  async paused<T>(question: () => Promise<T>): Promise<T> {
    const timer = this.timer;
    if (timer === undefined) return question();
    clearInterval(timer);
    this.timer = undefined;
    this.erase();
    try {
      return await question();
    } finally {
      this.timer = setInterval(() => this.draw(), 100);
      this.timer.unref();
      this.draw();
    }
  }

  /** Erase the board (the finished lines stay). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.erase();
  }

  private paint(code: string, text: string): string {
    return this.out.color ? `\u001b[${code}m${text}\u001b[0m` : text;
  }

  private permanent(line: string): void {
    this.erase();
    this.out.write(`${line}\n`);
    this.draw();
  }

  private erase(): void {
    if (this.drawn === 0) return;
    // Up to the board's first line, then clear to the end of the screen.
    this.out.write(`\u001b[${this.drawn}F\u001b[0J`);
    this.drawn = 0;
  }

  private draw(): void {
    if (!this.timer) return;
    this.erase();
    const lines = boardLines([...this.running.values()], this.counts, {
      rows: this.out.rows(),
      columns: this.out.columns(),
      frame: this.frame++,
      now: Date.now(),
    });
    this.out.write(`${lines.join("\n")}\n`);
    this.drawn = lines.length;
  }
}
