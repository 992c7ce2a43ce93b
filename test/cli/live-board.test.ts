import { describe, expect, it } from "vitest";
import { boardLines, LiveBoard } from "../../src/cli/render/live-board.js";
import type { Proxy } from "../../src/inventory/proxy.js";

const proxy = (i: number): Proxy => ({
  name: `cp-${i}`,
  host: "10.0.0.1",
  port: 22,
  user: "root",
  groups: [],
});
const running = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    proxy: proxy(i + 1),
    step: "pull" as const,
    started: 0,
    bytesDone: 1024 * 1024,
    bytesTotal: 3 * 1024 * 1024,
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
    expect(line).toBe("⠋ cp-1  pull 1.0/3.0 MiB  2.5s");
  });

  it("escapes a hostile proxy name", () => {
    const hostile = [{ ...running(1)[0]!, proxy: { ...proxy(1), name: "x\u001b[2Jy" } }];
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
});
