/**
 * How dockerode is loaded: without BuildKit's gRPC stack (never used here, most of its load),
 * and with docker-modem's debug output (which prints X-Registry-Auth) kept off under DEBUG=*.
 * In a fresh Node process: the test runner's own module cache would hide both.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "../..");

function inFreshNode(script: string, env: Record<string, string> = {}): string {
  return execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", ...env },
    encoding: "utf8",
  });
}

describe("loadDockerode", () => {
  it("loads dockerode without @grpc or protobufjs, and the client still works", () => {
    const out = inFreshNode(`
      import { createRequire } from "node:module";
      import { loadDockerode } from "./src/engine/dockerode.ts";
      const Docker = await loadDockerode();
      const cache = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify({
        dockerode: cache.some((f) => f.includes("/dockerode/lib/docker.js")),
        grpc: cache.filter((f) => /@grpc|protobufjs/.test(f)).length,
        client: typeof new Docker({ socketPath: "/nonexistent" }).getImage,
      }));
    `);
    expect(JSON.parse(out)).toEqual({ dockerode: true, grpc: 0, client: "function" });
  });

  it("keeps the modem's debug namespace off when DEBUG asks for everything", () => {
    const out = inFreshNode(
      `
      import { createRequire } from "node:module";
      import { loadDockerode } from "./src/engine/dockerode.ts";
      await loadDockerode();
      const fromDockerode = createRequire(createRequire(import.meta.url).resolve("dockerode"));
      const debug = createRequire(fromDockerode.resolve("docker-modem"))("debug");
      console.log(JSON.stringify({ modem: debug.enabled("modem"), other: debug.enabled("other") }));
    `,
      { DEBUG: "*" },
    );
    expect(JSON.parse(out)).toEqual({ modem: false, other: true });
  });
});
