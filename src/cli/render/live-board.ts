/**
 * Live progress of a batch in a terminal: one line per running proxy (spinner, name, what it is
 * doing in words, layers and bytes pulled of the image's total, elapsed time), the proxies that
 * finished as `ok` / `failed` lines above them, and a bottom line with the counts. It scrolls
 * what does not fit the terminal's height (keeping the counts line), follows resizes, and uses
 * no colour with NO_COLOR. The whole board is erased when it stops, so the report that follows
 * is the one place the results are printed. Only for interactive runs: piped output gets the
 * plain lines of `batch.ts`. Every per-proxy command feeds it the frame's events
 * (session/events.ts) through `onEvent`; only how a finished proxy reads is the command's.
 */
import { oneLine, printable } from "../../errors.js";
import type { PullProgress } from "../../engine/pull-progress.js";
import type { Proxy } from "../../inventory/proxy.js";
import type { ProxyEvent, StepName, StepSubject } from "../../session/events.js";
import type { ProxyResult } from "../../sideload/types.js";

export interface BoardOutput {
  /** Write to the terminal as is: escape sequences included (the board sanitises what it prints). */
  write(text: string): void;
  columns(): number;
  rows(): number;
  color: boolean;
}

/** One running proxy, as the board shows it. */
export interface BoardRow {
  name: string;
  /** What it is doing, in words that are not a result: `checking`, `logging in`, `pulling`. */
  activity: string;
  started: number;
  /** While pulling: layers and bytes. */
  progress?: PullProgress | undefined;
  /** After a re-issued pull: when the next attempt starts. */
  retryAt?: number | undefined;
}

/** A running step in words: `present` is the result of a check, `checking` is the check running. */
export const stepWords: Record<StepName | "starting", string> = {
  starting: "starting",
  connect: "connecting",
  engine: "reaching the engine",
  present: "checking",
  login: "logging in",
  pull: "pulling",
  verify: "verifying",
  prune: "removing old images",
  transport: "trying the other transport",
  disk: "measuring the free disk space",
  clock: "reading the clock",
  image: "checking for the image",
  registry: "logging in to",
  ca: "reading the CA file of",
};

/** A running step in words, naming the registry for doctor's registry and CA checks. */
export function stepText(step: StepName, subject: StepSubject = {}): string {
  const about = step === "registry" || step === "ca" ? subject.registry : undefined;
  return about === undefined ? stepWords[step] : `${stepWords[step]} ${printable(about)}`;
}

/** How a finished proxy reads on the board: its mark (`ok`) and the line after it. */
export type FinishedLine<Row> = (proxy: Proxy, results: Row) => { ok: boolean; line: string };

/** A `pull`/`verify` proxy: its time, then its first failure, else each image's status. */
export const sideloadFinished: FinishedLine<ProxyResult[]> = (proxy, results) => {
  const failed = results.filter(
    (r) => r.status === "failed" || r.status === "missing" || r.status === "skipped",
  );
  const first = failed[0];
  const seconds = `${(Math.max(...results.map((r) => r.durationMs), 0) / 1000).toFixed(1)}s`;
  const why = first?.error
    ? `  ${first.error.code}: ${oneLine(first.error.message, 160)}`
    : `  ${results.map((r) => r.status).join(", ")}`;
  return { ok: first === undefined, line: `${printable(proxy.name)}  ${seconds}${why}` };
};

/** `3/5 layers 12.3/40.0 MiB`, `retrying in 4 s`: a pull's progress in words. */
export function progressText(progress: PullProgress | undefined): string {
  if (progress === undefined || progress.layers === 0) return "";
  const bytes = progress.bytesTotal > 0 ? ` ${mib(progress.bytesDone)}/${mib(progress.bytesTotal)} MiB` : "";
  const retrying =
    progress.retryingInSeconds === undefined ? "" : `, retrying in ${progress.retryingInSeconds} s`;
  return `${progress.layersDone}/${progress.layers} layers${bytes}${retrying}`;
}

/** What one running row says after its name, at time `now`. */
export function activityText(row: BoardRow, now: number): string {
  if (row.retryAt !== undefined && now < row.retryAt)
    return `retrying in ${Math.ceil((row.retryAt - now) / 1000)} s`;
  const progress = progressText(row.progress);
  return progress === "" ? row.activity : `${row.activity} ${progress}`;
}

const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/**
 * The lines of the board, given its state: pure, so tests can check layout at any size. The
 * running rows come first in what fits; the latest finished lines fill the room left above them.
 */
export function boardLines(
  running: BoardRow[],
  counts: { ok: number; failed: number; total: number },
  options: { rows: number; columns: number; frame: number; now: number; finished?: string[] },
): string[] {
  // Leave room for the counts line and the line the cursor sits on.
  const room = Math.max(1, options.rows - 2);
  const shown = running.length > room ? running.slice(0, room - 1) : running;
  const lines = shown.map((r) => {
    const elapsed = `${((options.now - r.started) / 1000).toFixed(1)}s`;
    return fit(
      `${frames[options.frame % frames.length]} ${printable(r.name)}  ${activityText(r, options.now)}  ${elapsed}`,
      options.columns,
    );
  });
  if (shown.length < running.length)
    lines.push(fit(`  … and ${running.length - shown.length} more running`, options.columns));
  const finished = options.finished ?? [];
  const left = room - lines.length;
  const above = left > 0 ? finished.slice(-left) : [];
  const done = counts.ok + counts.failed;
  return [
    ...above,
    ...lines,
    fit(
      `${done}/${counts.total} done: ${counts.ok} ok, ${counts.failed} failed, ${running.length} running`,
      options.columns,
    ),
  ];
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

function fit(line: string, columns: number, extra = 0): string {
  const width = Math.max(10, columns - 1) + extra;
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

/**
 * The live board; feed it the batch's events, and `stop()` it before printing the summary.
 * `finished` says how a proxy's row reads once it is done (default: a pull's or verify's).
 */
export class LiveBoard<Row = ProxyResult[]> {
  private readonly running = new Map<string, BoardRow>();
  private readonly finished: string[] = [];
  private readonly counts = { ok: 0, failed: 0, total: 0 };
  private drawn = 0;
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;

  private readonly finishedLine: FinishedLine<Row>;

  constructor(
    private readonly out: BoardOutput,
    finished?: FinishedLine<Row>,
  ) {
    // Without one, Row is the default's (ProxyResult[]): the pull describer fits.
    this.finishedLine = finished ?? (sideloadFinished as unknown as FinishedLine<Row>);
  }

  /** Start drawing, for a batch of `total` proxies. */
  start(total: number): this {
    this.counts.total = total;
    this.timer = setInterval(() => this.draw(), 100);
    this.timer.unref();
    return this;
  }

  /** A proxy started. */
  begin(key: string, name: string, activity = stepWords.starting): void {
    this.running.set(key, { name, activity, started: Date.now() });
    this.draw();
  }

  /** A running proxy moved on to `activity` (its pull progress, if any, is dropped). */
  activity(key: string, activity: string): void {
    const row = this.running.get(key);
    if (row) Object.assign(row, { activity, progress: undefined, retryAt: undefined });
    this.draw();
  }

  /** A proxy finished: `line` says how (after the mark), `ok` picks the mark. */
  finish(key: string, ok: boolean, line: string): void {
    this.running.delete(key);
    if (ok) this.counts.ok++;
    else this.counts.failed++;
    const mark = ok ? this.paint("32", "ok    ") : this.paint("31", "failed");
    // The colour's escapes take no columns.
    this.finished.push(fit(`${mark} ${line}`, this.out.columns(), mark.length - 6));
    this.draw();
  }

  readonly onEvent = (event: ProxyEvent<Row>): void => {
    const key = event.proxy.name;
    const row = this.running.get(key);
    if (event.type === "proxy-started") {
      this.begin(key, event.proxy.name);
    } else if (event.type === "step-started") {
      this.activity(key, stepText(event.step, event));
    } else if (event.type === "pull-progress" && row) {
      row.progress = event.progress;
      row.retryAt = undefined;
    } else if (event.type === "retry" && row) {
      row.retryAt = Date.now() + event.delayMs;
    } else if (event.type === "proxy-finished") {
      const { ok, line } = this.finishedLine(event.proxy, event.results);
      this.finish(key, ok, line);
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

  /** Erase the board, finished lines too: the report that follows says it all once. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.erase();
  }

  private paint(code: string, text: string): string {
    return this.out.color ? `\u001b[${code}m${text}\u001b[0m` : text;
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
      finished: this.finished,
    });
    this.out.write(`${lines.join("\n")}\n`);
    this.drawn = lines.length;
  }
}
