/**
 * The lab as the end-to-end tests see it: its variables, its files, its fault switches, and each
 * proxy's Docker Engine reached directly on its unix socket (to set up and inspect real state).
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";
import type { RegistryCredentials } from "../../src/sideload/types.js";

export const root = join(import.meta.dirname, "../..");
export const labScript = join(root, "scripts/lab.sh");
export const bin = join(root, "bin/mp-sideload");
export const labDir = process.env.MP_LAB_DIR ?? join(root, ".lab");

export interface Lab {
  dir: string;
  run: string;
  registry: string;
  /** The same registry under a name whose CA no engine trusts. */
  untrustedRegistry: string;
  /** The same storage served read-only without auth: anonymous pulls work. */
  publicRegistry: string;
  proxies: number;
  firstSshPort: number;
  passwordUser: string;
  sampleDigest: string;
  secondDigest: string;
  missingDigest: string;
  registryUser: string;
  registryPassword: string;
  /** A second registry user with its own password. */
  registryUser2: string;
  registryPassword2: string;
  sshPassword: string;
  knownHosts: string;
  identity: string;
  inventory: string;
  ansibleInventory: string;
  paks: {
    sample: string;
    second: string;
    missing: string;
    untrusted: string;
    twoAdapters: string;
    /** sample on the registry's trusted name, second on its untrusted name. */
    twoRegistries: string;
    /** sample on the public (anonymous) registry. */
    public: string;
  };
  caFile: string;
  sampleReference: string;
  secondReference: string;
}

/** Read a lab's variables and secrets; `dir` is the lab folder (default: the test lab). */
export function loadLab(dir: string = labDir): Lab {
  const env = Object.fromEntries(
    readFileSync(join(dir, "lab.env"), "utf8")
      .trim()
      .split("\n")
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  ) as Record<string, string>;
  const secret = (name: string) => readFileSync(join(dir, "secrets", name), "utf8").trim();
  const registry = env.MP_LAB_REGISTRY ?? "";
  return {
    dir,
    run: env.MP_LAB_RUN ?? "",
    registry,
    untrustedRegistry: env.MP_LAB_UNTRUSTED_REGISTRY ?? "",
    publicRegistry: env.MP_LAB_PUBLIC_REGISTRY ?? "",
    proxies: Number(env.MP_LAB_PROXIES),
    firstSshPort: Number(env.MP_LAB_FIRST_SSH_PORT),
    passwordUser: env.MP_LAB_SSH_USER_PASSWORD_LOGIN ?? "",
    sampleDigest: env.MP_LAB_SAMPLE_DIGEST ?? "",
    secondDigest: env.MP_LAB_SECOND_DIGEST ?? "",
    missingDigest: env.MP_LAB_MISSING_DIGEST ?? "",
    registryUser: secret("registry-user"),
    registryPassword: secret("registry-password"),
    registryUser2: secret("registry-user-2"),
    registryPassword2: secret("registry-password-2"),
    sshPassword: secret("ssh-password"),
    knownHosts: join(dir, "client/known_hosts"),
    identity: join(dir, "client/id_ed25519"),
    inventory: join(dir, "client/inventory.yaml"),
    ansibleInventory: join(dir, "client/inventory.ini"),
    paks: {
      sample: join(dir, "paks/sample.pak"),
      second: join(dir, "paks/second.pak"),
      missing: join(dir, "paks/missing.pak"),
      untrusted: join(dir, "paks/untrusted.pak"),
      twoAdapters: join(dir, "paks/two-adapters.pak"),
      twoRegistries: join(dir, "paks/two-registries.pak"),
      public: join(dir, "paks/public.pak"),
    },
    caFile: join(dir, "ca/ca.crt"),
    sampleReference: `${registry}/mp/test-adapter@${env.MP_LAB_SAMPLE_DIGEST}`,
    secondReference: `${registry}/mp/second-adapter@${env.MP_LAB_SECOND_DIGEST}`,
  };
}

/** The lab's proxies as targets: its inventory and known_hosts. */
export function inventoryArgs(lab: Lab): string[] {
  return ["--inventory", lab.inventory, "--known-hosts", lab.knownHosts];
}

/** Run a lab switch: `labCtl("stop-engine", "2")`. */
export async function labCtl(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)("bash", [labScript, ...args], { env: process.env });
  return stdout;
}

/** Proxy I's own engine, on its unix socket (for setting up and checking state, not the tool). */
export function engineOf(lab: Lab, proxy: number): Docker {
  return new Docker({ socketPath: join(lab.run, `p${proxy}`, "docker.sock") });
}

/**
 * Pull on an engine directly (no SSH, no mp-sideload): how the tests set up state and how the
 * pull benchmark measures its floor. Fails on errors the engine reports inside the progress
 * stream too, which docker-modem's followProgress passes over.
 */
export function pullDirect(
  engine: Docker,
  reference: string,
  auth?: { username: string; password: string; serveraddress: string },
): Promise<void> {
  return new Promise((resolve, reject) => {
    engine.pull(
      reference,
      auth ? { authconfig: auth } : {},
      (error: Error | null, stream?: NodeJS.ReadableStream) => {
        if (error || !stream) return reject(error ?? new Error("no stream"));
        engine.modem.followProgress(stream, (err: Error | null, output: { error?: string }[]) => {
          const streamed = output.find((event) => event.error)?.error;
          if (err || streamed) reject(err ?? new Error(streamed));
          else resolve();
        });
      },
    );
  });
}

/** The RepoDigests of every image on proxy I's engine. */
export async function repoDigests(lab: Lab, proxy: number): Promise<string[]> {
  const images = await engineOf(lab, proxy).listImages();
  return images.flatMap((image) => image.RepoDigests ?? []);
}

/** Remove every image from proxy I's engine. */
export async function clearImages(lab: Lab, proxy: number): Promise<void> {
  const engine = engineOf(lab, proxy);
  for (const image of await engine.listImages()) await engine.getImage(image.Id).remove({ force: true });
}

/** `host:port` of proxy I's sshd. */
export function proxyAddress(lab: Lab, proxy: number): string {
  return `127.0.0.1:${lab.firstSshPort + proxy - 1}`;
}

/** Proxy `proxy`'s sshd log so far (LogLevel DEBUG1: connections, channels, forwards). */
export function sshdLog(lab: Lab, proxy: number): Promise<string> {
  return readFile(join(lab.dir, "proxies", `proxy-${proxy}`, "sshd.log"), "utf8");
}

/** Requests that Docker Engines (a proxy's login or pull) made to the lab's registry so far. */
export async function engineRequestsToRegistry(lab: Lab): Promise<number> {
  const log = await readFile(join(lab.dir, "registry", "registry.log"), "utf8");
  return log.split("\n").filter((line) => line.includes('useragent="docker/')).length;
}

/** The environment that hands mp-sideload the lab registry's user, with its password or `password`. */
export function registryEnv(lab: Lab, password = lab.registryPassword): Record<string, string> {
  return { MP_SIDELOAD_REGISTRY_USER: lab.registryUser, MP_SIDELOAD_REGISTRY_PASSWORD: password };
}

/** The lab registry's credentials as a run's registry gate hands them to a proxy. */
export function labRegistries(lab: Lab): RegistryCredentials {
  return {
    credentials: (registry) =>
      Promise.resolve({
        username: lab.registryUser,
        password: lab.registryPassword,
        serveraddress: registry,
      }),
    refresh: () => Promise.resolve(undefined),
    verified: () => false,
  };
}
