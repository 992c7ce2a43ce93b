import { describe, expect, it } from "vitest";
import { demultiplex } from "../../src/engine/containers.js";

function frame(stream: number, text: string): Buffer {
  const payload = Buffer.from(text);
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(payload.length, 4);
  return Buffer.concat([head, payload]);
}

describe("demultiplex: the engine's log frames", () => {
  it.each([
    [
      "stdout and stderr frames, in order",
      Buffer.concat([frame(1, "out 1\n"), frame(2, "err 1\n"), frame(1, "out 2\n")]),
      "out 1\nerr 1\nout 2\n",
    ],
    ["plain text (a TTY container)", Buffer.from("hello\nworld\n"), "hello\nworld\n"],
    [
      "a frame cut short: taken as text",
      frame(1, "abcdef").subarray(0, 10),
      frame(1, "abcdef").subarray(0, 10).toString("utf8"),
    ],
    ["nothing", Buffer.alloc(0), ""],
  ])("%s", (_what, bytes, text) => {
    expect(demultiplex(bytes)).toBe(text);
  });
});
