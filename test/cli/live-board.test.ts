import { describe, expect, it } from "vitest";
import { boardLines, LiveBoard, type BoardRow } from "../../src/cli/render/live-board.js";
import { createLiveRenderer } from "../../src/cli/render/batch.js";
import { checkWords, renderDoctorHuman, summaryOf } from "../../src/cli/commands/doctor.js";
import type { DoctorReport } from "../../src/doctor/doctor.js";
import type { Terminal } from "../../src/cli/terminal.js";
import type { Proxy } from "../../src/inventory/proxy.js";

const proxy = (i: number): Proxy => ({
  name: `cp-${i}`,
  host: "10.0.0.1",
  port: 22,
  user: "root",
  groups: [],
});
const running = (n: number): BoardRow[] =>
  Array.from({ length: n }, (_, i) => ({
    name: proxy(i + 1).name,
    activity: "pulling",
    started: 0,
    progress: { layers: 5, layersDone: 3, bytesDone: 1024 * 1024, bytesTotal: 3 * 1024 * 1024 },
  }));

describe("the live board's layout", () => {
  it.each([
    [50, 24, 80],
    [50, 10, 40],
    [3, 24, 120],
    [0, 24, 80],
  ])("%i running in %i rows × %i columns: fits, keeps the counts line last", (count, rows, columns) => {
    const lines = boardLines(
      running(count),
      { ok: 7, failed: 1, total: count + 8 },
      { rows, columns, frame: 3, now: 1500 },
    );
    // The board and the line the cursor sits on fit the screen, so redrawing never scrolls it.
    expect(lines.length).toBeLessThanOrEqual(rows - 1);
    expect(lines.at(-1)).toMatch(new RegExp(`^8/${count + 8} done: 7 ok, 1 failed, ${count} running$`));
    for (const line of lines) expect(line.length).toBeLessThan(columns);
    if (count > rows - 2) expect(lines.at(-2)).toMatch(/… and \d+ more running/);
  });

  it("shows the step, the bytes of the image's total and the elapsed time", () => {
    const [line] = boardLines(
      running(1),
      { ok: 0, failed: 0, total: 1 },
      { rows: 24, columns: 120, frame: 0, now: 2500 },
    );
    expect(line).toBe("⠋ cp-1  pulling 3/5 layers 1.0/3.0 MiB  2.5s");
  });

  it("escapes a hostile proxy name", () => {
    const hostile = [{ ...running(1)[0]!, name: "x\u001b[2Jy" }];
    const [line] = boardLines(
      hostile,
      { ok: 0, failed: 0, total: 1 },
      { rows: 24, columns: 120, frame: 0, now: 0 },
    );
    expect(line).not.toContain("\u001b");
  });

  it("writes no colour with NO_COLOR, and finished proxies collapse into ok/failed lines", () => {
    const written: string[] = [];
    const board = new LiveBoard({
      write: (t) => written.push(t),
      columns: () => 80,
      rows: () => 24,
      color: false,
    }).start(2);
    board.onEvent({ type: "proxy-started", proxy: proxy(1) });
    board.onEvent({
      type: "proxy-finished",
      proxy: proxy(1),
      results: [
        { name: "cp-1", host: "h", port: 22, status: "pulled", reference: "r", durationMs: 1200, steps: [] },
      ],
    });
    board.stop();
    const text = written.join("");
    expect(text).toContain("ok     cp-1  1.2s  pulled");
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/\u001b\[\d*(;\d+)*m/);
  });

  it("shows a running step in words that are not a result, layers and bytes that move, and a retry", () => {
    const written: string[] = [];
    const board = new LiveBoard({
      write: (t) => written.push(t),
      columns: () => 120,
      rows: () => 24,
      color: false,
    }).start(1);
    const screen = () => written.join("").split("\u001b[").at(-1) ?? "";
    board.onEvent({ type: "proxy-started", proxy: proxy(1) });
    board.onEvent({ type: "step-started", proxy: proxy(1), step: "present", reference: "r" });
    expect(screen()).toMatch(/cp-1 {2}checking {2}/);
    expect(screen()).not.toMatch(/present/);
    board.onEvent({ type: "step-started", proxy: proxy(1), step: "login", reference: "r" });
    expect(screen()).toMatch(/cp-1 {2}logging in {2}/);
    board.onEvent({ type: "step-started", proxy: proxy(1), step: "pull", reference: "r" });
    const mb = 1024 * 1024;
    board.onEvent({
      type: "pull-progress",
      proxy: proxy(1),
      reference: "r",
      progress: { layers: 2, layersDone: 0, bytesDone: 0, bytesTotal: 40 * mb },
    });
    expect(screen()).toMatch(/cp-1 {2}pulling 0\/2 layers 0\.0\/40\.0 MiB/);
    board.onEvent({
      type: "pull-progress",
      proxy: proxy(1),
      reference: "r",
      progress: { layers: 2, layersDone: 1, bytesDone: 12.3 * mb, bytesTotal: 40 * mb, retryingInSeconds: 5 },
    });
    expect(screen()).toMatch(/pulling 1\/2 layers 12\.3\/40\.0 MiB, retrying in 5 s/);
    board.onEvent({
      type: "retry",
      proxy: proxy(1),
      reference: "r",
      attempt: 1,
      delayMs: 3000,
      error: { code: "ENGINE_RESTARTED", message: "restarted" },
    });
    expect(screen()).toMatch(/cp-1 {2}retrying in 3 s/);
    board.stop();
  });

  it("keeps finished lines on the board while it runs, and erases them all when it stops", () => {
    const lines = boardLines(
      running(1),
      { ok: 1, failed: 0, total: 2 },
      { rows: 24, columns: 80, frame: 0, now: 0, finished: ["ok     cp-9  1.0s  pulled"] },
    );
    expect(lines[0]).toBe("ok     cp-9  1.0s  pulled");
    expect(lines).toHaveLength(3);
    const written: string[] = [];
    const board = new LiveBoard({
      write: (t) => written.push(t),
      columns: () => 80,
      rows: () => 24,
      color: false,
    });
    board.start(1);
    board.finish("a", true, "cp-1  1.0s  present");
    const drawnLines = written.at(-1)?.split("\n").length ?? 0;
    board.stop();
    // The last write moves up over every line drawn (finished one included) and clears below.
    expect(written.at(-1)).toBe(`\u001b[${drawnLines - 1}F\u001b[0J`);
  });
});

describe("plain progress lines (no board)", () => {
  const terminal = (lines: string[]): Terminal => ({
    out: () => undefined,
    err: (t) => void lines.push(t),
    interactive: true,
    color: false,
    env: {},
    readStdin: () => Promise.resolve(""),
    signal: new AbortController().signal,
  });

  it("moves with the layers: each finished layer is a line at once", () => {
    const lines: string[] = [];
    const render = createLiveRenderer(terminal(lines), { debug: false, json: false });
    for (const layersDone of [0, 1, 2])
      render({
        type: "pull-progress",
        proxy: proxy(1),
        reference: "r",
        progress: { layers: 2, layersDone, bytesDone: layersDone * 1024 * 1024, bytesTotal: 2 * 1024 * 1024 },
      });
    expect(lines).toEqual([
      "cp-1: pulling 0/2 layers 0.0/2.0 MiB\n",
      "cp-1: pulling 1/2 layers 1.0/2.0 MiB\n",
      "cp-1: pulling 2/2 layers 2.0/2.0 MiB\n",
    ]);
  });
});

describe("doctor at a terminal", () => {
  it("says what a running check does, in words that are not its result", () => {
    expect(checkWords("ssh")).toBe("connecting");
    expect(checkWords("image r@sha256:1")).toBe("checking for the image");
    expect(checkWords("registry reg:5000")).toBe("logging in to reg:5000");
  });

  it("never hides a warning behind 'checks pass', and shows each warn and fail with its hint", () => {
    const report: DoctorReport = {
      command: "doctor",
      references: [],
      summary: { pass: 0, warn: 1, fail: 0, total: 1 },
      proxies: [
        {
          name: "cp-1",
          host: "h",
          port: 22,
          verdict: "warn",
          durationMs: 10,
          checks: [
            { check: "ssh", verdict: "pass", detail: "ok" },
            { check: "disk", verdict: "warn", detail: "2.0 GiB free", hint: "little room left" },
          ],
        },
      ],
    };
    expect(summaryOf(report.proxies[0]!)).toBe("1 of 2 pass; warn: disk");
    const human = renderDoctorHuman(report);
    expect(human).toMatch(/^WARN +cp-1 +1 of 2 pass; warn: disk$/m);
    expect(human).toContain("cp-1 disk: warn: 2.0 GiB free\n  hint: little room left");
    expect(human).not.toMatch(/checks pass/);
  });
});
