/**
 * A throttling front for the benchmarks: a TCP forwarder on `listen` to `target` whose
 * downstream direction (what the registry sends) shares one link of `mbit` Mbit/s among all its
 * connections, as a WAN link in front of a registry does. TLS passes through it untouched.
 *
 * Each chunk the target sends waits its turn on the one link: the link is free again `bytes /
 * rate` after the chunk before it, whichever connection that was, so N clients together get what
 * one alone would, and each about 1/N of it. The upstream direction (requests) is not limited.
 */
import { connect, createServer, type Socket } from "node:net";

export interface Throttle {
  port: number;
  /** Bytes passed downstream so far. */
  bytes: () => number;
  close: () => Promise<void>;
}

export function startThrottle(
  listen: { host: string; port: number },
  target: { host: string; port: number },
  mbit: number,
): Promise<Throttle> {
  const bytesPerMs = (mbit * 1e6) / 8 / 1000;
  let linkFreeAt = 0;
  let passed = 0;
  const sockets = new Set<Socket>();

  /** Hold `from` back until its chunk has had its time on the link, then pass it to `to`. */
  const throttled = (from: Socket, to: Socket) => {
    from.on("data", (chunk: Buffer) => {
      const now = performance.now();
      const start = Math.max(now, linkFreeAt);
      linkFreeAt = start + chunk.length / bytesPerMs;
      from.pause();
      setTimeout(() => {
        passed += chunk.length;
        if (to.write(chunk)) from.resume();
        else to.once("drain", () => from.resume());
      }, linkFreeAt - now);
    });
    from.on("end", () => {
      // The last chunk may still be waiting for its turn: end after it.
      setTimeout(() => to.end(), Math.max(0, linkFreeAt - performance.now()) + 1);
    });
  };

  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    throttled(upstream, client);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () =>
      resolve({
        port: listen.port,
        bytes: () => passed,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      }),
    );
  });
}
