import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { readCapped } from "../src/streams.js";

const tooLarge = () => new Error("too large");

describe("readCapped", () => {
  it("gives the whole stream when it stays within the cap", async () => {
    const bytes = await readCapped(Readable.from([Buffer.from("ab"), Buffer.from("cd")]), 4, tooLarge);
    expect(bytes.toString()).toBe("abcd");
  });

  it("refuses, and destroys the stream, once the bytes pass the cap", async () => {
    const stream = Readable.from([Buffer.from("abc"), Buffer.from("de"), Buffer.from("never read")]);
    await expect(readCapped(stream, 4, tooLarge)).rejects.toThrow("too large");
    expect(stream.destroyed).toBe(true);
  });

  it("refuses a stream that closes before its end", async () => {
    const stream = new PassThrough();
    const reading = readCapped(stream, 100, tooLarge);
    stream.write("partial");
    stream.destroy();
    await expect(reading).rejects.toThrow("cut off");
  });
});
