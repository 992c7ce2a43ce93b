/**
 * dockerode, loaded on first need: a session starts the load when it begins to connect, so that
 * it runs while the SSH handshake waits on the network, and commands that never reach an engine
 * (inspect, check-registry) never pay it. Measured in docs/benchmarks.md ("dockerode").
 */
import type Dockerode from "dockerode";
import { existsSync } from "node:fs";
import type { Agent } from "node:http";
import Module, { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { releaseBuild } from "../release-build.js";

let loading: Promise<typeof Dockerode> | undefined;

/** The dockerode module; one load per process, started by the first call. */
export function loadDockerode(): Promise<typeof Dockerode> {
  loading ??= (() => {
    hideModemDebug();
    skipBuildKitSession();
    return import("dockerode").then((module) => module.default);
  })();
  return loading;
}

/**
 * dockerode's main file requires its BuildKit session support (`lib/session.js`: gRPC, protobuf
 * and their loaders) at the top, although only `buildImage` with BuildKit uses it; that is ~2/3
 * of dockerode's load (~100 of ~150 ms of CPU). mp-sideload never builds: the module cache gets
 * a stand-in for that one file before dockerode loads. Should dockerode move the file, nothing
 * is stubbed and it loads as it comes.
 */
function skipBuildKitSession(): void {
  // The release bundle has no node_modules to resolve: esbuild left that file out of it instead.
  if (releaseBuild) return;
  const require = createRequire(import.meta.url);
  const session = join(dirname(require.resolve("dockerode")), "session.js");
  if (!existsSync(session) || require.cache[session] !== undefined) return;
  const standIn = new Module(session);
  standIn.filename = session;
  standIn.loaded = true;
  standIn.exports = () => {
    throw new Error("BuildKit sessions (dockerode buildImage) are not part of mp-sideload");
  };
  require.cache[session] = standIn;
}

/**
 * docker-modem's `debug("modem")` output prints each request's headers, X-Registry-Auth (the
 * registry password, base64) among them, when DEBUG names it (`DEBUG=*`). The `debug` package
 * reads DEBUG when it loads: excluding `modem` there keeps every other namespace the user asked for.
 */
function hideModemDebug(): void {
  const namespaces = process.env.DEBUG;
  if (namespaces !== undefined && namespaces.trim() !== "") process.env.DEBUG = `${namespaces},-modem`;
}

/** Start loading dockerode now, to overlap with other waiting; a failure shows at first use. */
export function preloadDockerode(): void {
  loadDockerode().catch(() => undefined);
}

/**
 * The workstation's docker settings, which docker-modem's constructor reads whatever options it
 * is given: DOCKER_HOST (it throws on one it cannot parse), DOCKER_TLS_VERIFY, DOCKER_CERT_PATH
 * (it reads the certificate files there, and throws when they are absent) and
 * DOCKER_CLIENT_TIMEOUT (it would cut a long pull). The engine here is the proxy's, reached
 * through `agent`: none of them applies.
 */
const workstationDockerEnv = [
  "DOCKER_HOST",
  "DOCKER_TLS_VERIFY",
  "DOCKER_CERT_PATH",
  "DOCKER_CLIENT_TIMEOUT",
];

/**
 * A dockerode client whose every HTTP connection comes from `agent` (docker-modem's documented
 * custom-agent transport); `host` only fills the Host header.
 */
export function dockerodeClient(Docker: typeof Dockerode, agent: Agent): Dockerode {
  const saved = workstationDockerEnv.map((name) => [name, process.env[name]] as const);
  // Synchronous from here to the restore: no other code can see the environment without them.
  for (const [name] of saved) delete process.env[name];
  try {
    return new Docker({ protocol: "http", host: "docker", port: 80, agent } as Dockerode.DockerOptions);
  } finally {
    for (const [name, value] of saved) if (value !== undefined) process.env[name] = value;
  }
}
