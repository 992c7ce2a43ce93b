/**
 * Registry credentials from the workstation's Docker configuration, found as the docker CLI
 * finds them: `credHelpers` for the registry, else `credsStore`, else `auths` (base64 `auth`,
 * `username`/`password`, `identitytoken`). Helpers speak the docker-credential-helpers
 * protocol: `docker-credential-<name> get`, the server URL on stdin, JSON on stdout.
 */
import { join } from "node:path";
import { SideloadError, quote } from "../errors.js";
import { findOnPath, homeDir, readTextFile } from "../files.js";
import type { RegistryAuth } from "./registry-auth.js";
import { registerSecret } from "../redact.js";
import { runProgram, stderrForMessage } from "./run-program.js";

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** Where the docker CLI reads its configuration. */
export function dockerConfigFile(env: NodeJS.ProcessEnv): string {
  return join(env.DOCKER_CONFIG || join(homeDir(env), ".docker"), "config.json");
}

/** Docker Hub's key in config.json, whatever name the pak uses for it. */
const dockerHubKey = "https://index.docker.io/v1/";
const dockerHubNames = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

/** The server address the docker CLI stores and asks helpers for: Hub's URL, else host[:port]. */
export function dockerServerAddress(registry: string): string {
  return dockerHubNames.has(registry) ? dockerHubKey : registry;
}

/** `https://host:port/path` → `host:port`, as the docker CLI normalises `auths` keys. */
function hostnameOf(key: string): string {
  const stripped = key.replace(/^https?:\/\//, "");
  return stripped.split("/")[0] ?? stripped;
}

export interface FoundAuth {
  auth: RegistryAuth;
  /** e.g. `docker-config:credHelpers(ecr-login)`. */
  source: string;
}

/**
 * Look the registry up in the Docker config. Undefined when the config (or its helper) has
 * nothing for it; an error when the config or a helper is broken.
 */
export async function authFromDockerConfig(
  registry: string,
  env: NodeJS.ProcessEnv,
): Promise<FoundAuth | undefined> {
  const file = dockerConfigFile(env);
  let text: string;
  try {
    text = await readTextFile(file, {
      what: "Docker config",
      hint: "check DOCKER_CONFIG",
      maxBytes: 4 * 1024 * 1024,
    });
  } catch (error) {
    if (error instanceof SideloadError && error.code === "FILE_NOT_FOUND") return undefined;
    throw error;
  }
  let config: DockerConfig;
  try {
    config = JSON.parse(text) as DockerConfig;
  } catch (error) {
    throw new SideloadError("CREDENTIALS_MISSING", `${file}: not JSON (${(error as Error).message})`, {
      hint: "fix the file, or point DOCKER_CONFIG at another folder",
    });
  }
  const server = dockerServerAddress(registry);
  const helper = config.credHelpers?.[server] ?? config.credHelpers?.[registry];
  if (typeof helper === "string" && helper !== "") {
    const auth = await askCredentialHelper(helper, server, registry, env);
    if (auth) return { auth, source: `docker-config:credHelpers(${helper})` };
  } else if (typeof config.credsStore === "string" && config.credsStore !== "") {
    const auth = await askCredentialHelper(config.credsStore, server, registry, env);
    if (auth) return { auth, source: `docker-config:credsStore(${config.credsStore})` };
  }
  const auths = config.auths ?? {};
  const key =
    server in auths
      ? server
      : Object.keys(auths).find(
          (k) =>
            hostnameOf(k) === hostnameOf(server) ||
            (dockerHubNames.has(registry) && dockerHubNames.has(hostnameOf(k))),
        );
  const entry = key === undefined ? undefined : auths[key];
  if (!entry) return undefined;
  if (entry.identitytoken) {
    registerSecret(entry.identitytoken);
    return {
      auth: { username: "", password: "", identitytoken: entry.identitytoken, serveraddress: registry },
      source: "docker-config:auths",
    };
  }
  let { username, password } = entry;
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon <= 0) {
      throw new SideloadError(
        "CREDENTIALS_MISSING",
        `${file}: the "auth" of ${quote(key ?? "")} is not base64 of user:password`,
        {
          hint: `log in again: docker login ${registry}`,
        },
      );
    }
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  if (!username || !password) return undefined;
  registerSecret(password);
  return { auth: { username, password, serveraddress: registry }, source: "docker-config:auths" };
}

/**
 * Ask `docker-credential-<name> get` for `server`'s credentials. A helper that has none answers
 * "credentials not found" and exits non-zero: that is no credentials, not an error.
 */
export async function askCredentialHelper(
  name: string,
  server: string,
  registry: string,
  env: NodeJS.ProcessEnv,
): Promise<RegistryAuth | undefined> {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new SideloadError(
      "CREDENTIALS_MISSING",
      `Docker config names the credential helper ${quote(name)}, which is not a helper name`,
      {
        hint: "a helper is named like ecr-login, pass, secretservice, desktop",
      },
    );
  }
  const program = `docker-credential-${name}`;
  // Looked up as the docker CLI does (docker-credential-wincred.exe on Windows, where spawn
  // itself would not add the extension); not found, spawn's ENOENT says so in words.
  const result = await runProgram([findOnPath(program, env) ?? program, "get"], {
    stdin: server,
    env,
    what: `credential helper ${program}`,
  });
  if (result.code !== 0) {
    if (/credentials not found/i.test(result.stdout + result.stderr)) return undefined;
    throw new SideloadError(
      "CREDENTIALS_MISSING",
      `${program} get ${registry} failed (exit ${result.code}): ${stderrForMessage(result.stderr || result.stdout)}`,
      { hint: `run 'echo ${server} | ${program} get' to see why; you may need to log in again` },
    );
  }
  let answer: { Username?: unknown; Secret?: unknown };
  try {
    answer = JSON.parse(result.stdout) as typeof answer;
  } catch {
    throw new SideloadError("CREDENTIALS_MISSING", `${program} get ${registry}: the answer is not JSON`, {
      hint: 'a credential helper answers {"ServerURL": …, "Username": …, "Secret": …}',
    });
  }
  if (typeof answer.Username !== "string" || typeof answer.Secret !== "string" || answer.Secret === "") {
    throw new SideloadError(
      "CREDENTIALS_MISSING",
      `${program} get ${registry}: the answer lacks Username or Secret`,
      {
        hint: 'a credential helper answers {"ServerURL": …, "Username": …, "Secret": …}',
      },
    );
  }
  registerSecret(answer.Secret);
  // "<token>" as the user marks an identity token (an OAuth refresh token), as in the docker CLI.
  if (answer.Username === "<token>") {
    return { username: "", password: "", identitytoken: answer.Secret, serveraddress: registry };
  }
  return { username: answer.Username, password: answer.Secret, serveraddress: registry };
}
