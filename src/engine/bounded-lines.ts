/**
 * Lines of a stream, each at most `maxBytes`. Not `node:readline`: readline keeps a line's bytes
 * until its newline comes, however many, so a stream without newlines grows the process without
 * bound (a fake engine made 530 MB of RSS from 31 MB sent, and starved the other proxies of the
 * batch). Here a line is refused as soon as it passes the cap, and each byte is scanned once.
 */

/** A line passed the cap; `maxBytes` says which. */
export class LineTooLongError extends Error {
  constructor(readonly maxBytes: number) {
    super(`a line of more than ${maxBytes} bytes`);
  }
}

/**
 * The lines of `stream` (UTF-8, without their "\n"), the last one even without a final newline.
 * Throws LineTooLongError past `maxBytes`; the caller then ends the stream (leaving the loop does).
 */
export async function* boundedLines(stream: AsyncIterable<Buffer>, maxBytes: number): AsyncGenerator<string> {
  let parts: Buffer[] = [];
  let pending = 0;
  for await (const chunk of stream) {
    let start = 0;
    for (let newline = chunk.indexOf(10); newline !== -1; newline = chunk.indexOf(10, start)) {
      if (pending + newline - start > maxBytes) throw new LineTooLongError(maxBytes);
      parts.push(chunk.subarray(start, newline));
      // "\n" never occurs inside a multi-byte UTF-8 sequence: a line decodes whole.
      const line = Buffer.concat(parts).toString("utf8");
      parts = [];
      pending = 0;
      start = newline + 1;
      yield line;
    }
    const rest = chunk.length - start;
    if (pending + rest > maxBytes) throw new LineTooLongError(maxBytes);
    if (rest > 0) {
      // A copy: a view would keep the whole chunk alive for a few bytes of it.
      parts.push(Buffer.from(chunk.subarray(start)));
      pending += rest;
    }
  }
  if (pending > 0) yield Buffer.concat(parts).toString("utf8");
}
