import { spawn } from "node:child_process";
import net from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const bin = join(import.meta.dirname, "../../bin/mp-sideload");
const pak = join(import.meta.dirname, "../../fixtures/sample.pak");

describe("Ctrl-C", () => {
  // Proxies that accept TCP and never speak SSH: the run is stuck in the handshake when interrupted.
  let silent: net.Server;
  let port: number;
  beforeAll(async () => {
    silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    port = (silent.address() as net.AddressInfo).port;
  });
  afterAll(() => silent.close());

  it("stops promptly with exit 130, reports the proxy it was on as INTERRUPTED and the rest as skipped", async () => {
    const child = spawn(
      bin,
      [
        "verify",
        pak,
        "--proxy",
        `127.0.0.1:${port}`,
        "--proxy",
        `localhost:${port}`,
        "--proxy",
        `[::1]:${port}`,
        "--concurrency",
        "1",
        "--known-hosts",
        "/dev/null",
        "--json",
      ],
      { env: { PATH: process.env.PATH, CI: "true" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    await new Promise((r) => setTimeout(r, 800));
    const sent = Date.now();
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) => child.on("close", r));
    expect(code).toBe(130);
    expect(Date.now() - sent).toBeLessThan(5000);
    const report = JSON.parse(stdout) as { proxies: { status: string; error?: { code: string } }[] };
    expect(report.proxies.map((p) => [p.status, p.error?.code])).toEqual([
      ["failed", "INTERRUPTED"],
      ["skipped", "INTERRUPTED"],
      ["skipped", "INTERRUPTED"],
    ]);
  });
});
