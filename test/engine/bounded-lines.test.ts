/** The pull stream's line reader: lines across chunk boundaries, and a cap that holds. */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { LineTooLongError, boundedLines } from "../../src/engine/bounded-lines.js";

async function lines(chunks: string[], max = 16): Promise<string[]> {
  const out: string[] = [];
  for await (const line of boundedLines(Readable.from(chunks.map((c) => Buffer.from(c))), max))
    out.push(line);
  return out;
}

describe("boundedLines", () => {
  it.each([
    [["a\nb\n"], ["a", "b"]],
    [
      ["a", "b\nc", "\n"],
      ["ab", "c"],
    ],
    [["a\n\nb"], ["a", "", "b"]],
    [["ü".repeat(3), "\n"], ["üüü"]],
    [[], []],
  ])("%j → %j", async (chunks, expected) => {
    expect(await lines(chunks)).toEqual(expected);
  });

  it("splits a multi-byte character across chunks and still decodes it", async () => {
    const euro = Buffer.from("€\n");
    const out: string[] = [];
    for await (const line of boundedLines(Readable.from([euro.subarray(0, 1), euro.subarray(1)]), 16))
      out.push(line);
    expect(out).toEqual(["€"]);
  });

  it.each([
    ["a line longer than the cap inside one chunk", ["x".repeat(17) + "\n"]],
    ["a line growing past the cap over chunks", ["x".repeat(10), "x".repeat(10)]],
    ["no newline at all", ["x".repeat(100)]],
  ])("refuses %s", async (_name, chunks) => {
    await expect(lines(chunks)).rejects.toBeInstanceOf(LineTooLongError);
  });

  it("takes a line of exactly the cap", async () => {
    expect(await lines(["x".repeat(16) + "\n"])).toEqual(["x".repeat(16)]);
  });
});
