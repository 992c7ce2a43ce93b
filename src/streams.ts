import type { Readable } from "node:stream";

/**
 * The whole of `stream`, refused (and the stream destroyed) as soon as it passes `maxBytes`:
 * counted as the bytes arrive, whatever a header declared. A stream that closes before its end
 * is refused too.
 */
export function readCapped(stream: Readable, maxBytes: number, tooLarge: () => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        stream.destroy();
        reject(tooLarge());
      } else chunks.push(chunk);
    });
    stream.once("end", () => resolve(Buffer.concat(chunks, size)));
    stream.once("error", reject);
    stream.once("close", () => {
      if (!stream.readableEnded) reject(new Error("the stream was cut off"));
    });
  });
}
