import { abortable } from "../abortable.js";
import { SideloadError, oneLine, type ErrorCode } from "../errors.js";
import type { ImageReference } from "../reference.js";
import { repositoryName, sameImageReference } from "../reference.js";
import type { SshConnection } from "../ssh/connect.js";
import { EngineApiError, engineJson, engineRequest, registryAuthHeader } from "./engine-api.js";
import { SshEngineAgent, type EngineTransport } from "./ssh-agent.js";

/** Registry credentials as the engine API takes them. Never logged, never on a command line. */
export interface RegistryAuth {
  username: string;
  password: string;
  /** An OAuth refresh token (docker config `identitytoken`), used instead of the password. */
  identitytoken?: string | undefined;
  /** The registry host[:port] exactly as in the reference. */
  serveraddress: string;
}

/** Progress of one pull, summed over its layers. */
export interface PullProgress {
  layers: number;
  layersDone: number;
  bytesDone: number;
  bytesTotal: number;
}

/** The Docker Engine of one proxy, reached through that proxy's SSH connection. */
export class Engine {
  private readonly agent: SshEngineAgent;

  constructor(
    connection: SshConnection,
    readonly socketPath: string,
    private readonly where: string,
    transport?: EngineTransport,
    dialStdioHost?: string,
    /** Ends every call of this engine (per-proxy timeout, Ctrl-C); calls then reject with its reason. */
    private readonly signal?: AbortSignal,
  ) {
    this.agent = new SshEngineAgent(connection, socketPath, transport, dialStdioHost);
  }

  get transport(): EngineTransport | undefined {
    return this.agent.via;
  }

  /** `GET /version`: proves the engine answers. */
  async version(): Promise<{ version: string; apiVersion: string }> {
    try {
      const v = await this.call<{ Version: string; ApiVersion: string }>("GET", "/version");
      return { version: v.Version, apiVersion: v.ApiVersion };
    } catch (error) {
      throw this.signal?.aborted ? error : this.engineError(error);
    }
  }

  /** `GET /info`: where the engine keeps its data, and its clock. */
  async info(): Promise<{ rootDir: string; systemTime: string }> {
    try {
      const info = await this.call<{ DockerRootDir?: string; SystemTime?: string }>("GET", "/info");
      return { rootDir: info.DockerRootDir ?? "", systemTime: info.SystemTime ?? "" };
    } catch (error) {
      throw this.signal?.aborted ? error : this.engineError(error);
    }
  }

  /** The image's RepoDigests if the engine has an image for this reference, else undefined. */
  async repoDigests(reference: string): Promise<string[] | undefined> {
    try {
      // The reference passed the grammar: only [a-z0-9._:/@-], safe in a path as it is (the
      // engine takes the name's slashes literally).
      const info = await this.call<{ RepoDigests?: string[] | null }>("GET", `/images/${reference}/json`);
      return info.RepoDigests ?? [];
    } catch (error) {
      if (this.signal?.aborted) throw error;
      if (error instanceof EngineApiError && error.statusCode === 404) return undefined;
      throw this.engineError(error);
    }
  }

  /** True when the engine holds exactly `reference` among an image's RepoDigests. */
  async hasReference(reference: string): Promise<boolean> {
    return (await this.repoDigests(reference))?.some((d) => sameImageReference(reference, d)) ?? false;
  }

  /**
   * `POST /auth`: the engine checks the credentials against the registry from the proxy's own
   * network position, so a bad password, an untrusted CA or an unreachable registry shows here,
   * before any pull.
   */
  async login(auth: RegistryAuth): Promise<void> {
    try {
      await this.call("POST", "/auth", auth);
    } catch (error) {
      throw this.signal?.aborted
        ? error
        : classifyRegistryError(messageOf(error), auth.serveraddress, this.where, "login");
    }
  }

  /**
   * `POST /images/create` for the digest; credentials only in the X-Registry-Auth header.
   * Resolves when the engine reports the pull complete; rejects with a classified error.
   */
  async pull(
    ref: ImageReference,
    auth: RegistryAuth | undefined,
    onProgress: (p: PullProgress) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const abortSignal = signal ?? this.signal;
    let stream: NodeJS.ReadableStream;
    try {
      stream = await abortable(
        engineRequest(this.agent, {
          method: "POST",
          path: `/images/create?${new URLSearchParams({ fromImage: repositoryName(ref), tag: ref.digest }).toString()}`,
          headers: auth ? { "X-Registry-Auth": registryAuthHeader(auth) } : {},
          signal: abortSignal,
        }),
        abortSignal,
      );
    } catch (error) {
      if (abortSignal?.aborted) throw error;
      throw classifyRegistryError(messageOf(error), ref.registry, this.where, "pull");
    }
    const progress = new Promise<void>((resolve, reject) => {
      const layers = new Map<string, { current: number; total: number; done: boolean }>();
      let buffered = "";
      let failure: Error | undefined;
      const report = () => {
        let bytesDone = 0;
        let bytesTotal = 0;
        let layersDone = 0;
        for (const l of layers.values()) {
          bytesDone += l.done ? l.total : l.current;
          bytesTotal += l.total;
          if (l.done) layersDone++;
        }
        onProgress({ layers: layers.size, layersDone, bytesDone, bytesTotal });
      };
      const handle = (line: string) => {
        if (line.trim() === "") return;
        let event: {
          status?: string;
          id?: string;
          error?: string;
          progressDetail?: { current?: number; total?: number };
        };
        try {
          event = JSON.parse(line) as typeof event;
        } catch {
          return;
        }
        if (event.error) {
          failure = classifyRegistryError(event.error, ref.registry, this.where, "pull");
          return;
        }
        if (event.id && event.status) {
          const layer = layers.get(event.id) ?? { current: 0, total: 0, done: false };
          if (event.status === "Downloading" && event.progressDetail?.total) {
            layer.current = event.progressDetail.current ?? 0;
            layer.total = event.progressDetail.total;
          } else if (/^(Pull complete|Already exists|Download complete)$/.test(event.status)) {
            layer.done = event.status !== "Download complete" || layer.done;
            if (layer.total) layer.current = layer.total;
          }
          if (event.status !== "Pulling from") layers.set(event.id, layer);
          report();
        }
      };
      stream.on("data", (chunk: Buffer) => {
        buffered += chunk.toString("utf8");
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        lines.forEach(handle);
      });
      stream.once("end", () => {
        handle(buffered);
        if (failure) reject(failure);
        else resolve();
      });
      stream.once("error", (error: Error) => reject(failure ?? this.dropError(error)));
      stream.once("close", () => {
        // A response closed before its end: the connection dropped under it.
        if (!(stream as NodeJS.ReadableStream & { readableEnded?: boolean }).readableEnded) {
          reject(failure ?? this.dropError(new Error("the engine's response was cut off")));
        }
      });
    });
    try {
      await abortable(progress, abortSignal);
    } finally {
      // An engine that stops streaming mid-pull must not keep the channel (and the run) open.
      if (abortSignal?.aborted) (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
    }
  }

  /** One API call with a JSON answer, ended by this engine's signal whatever the far end does. */
  private call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    return abortable(engineJson<T>(this.agent, { method, path, body, signal: this.signal }), this.signal);
  }

  /** Close every channel this engine opened. */
  close(): void {
    this.agent.destroy();
  }

  private dropError(error: Error): SideloadError {
    return new SideloadError(
      "SSH_DISCONNECTED",
      `${this.where}: the connection dropped during the pull (${oneLine(error.message)})`,
      {
        hint: "mp-sideload reconnects and re-issues the pull; if it keeps failing, check the network to the proxy",
        exitStatus: 1,
        cause: error,
      },
    );
  }

  private engineError(error: unknown): SideloadError {
    const message = `${messageOf(error)} ${this.agent.lastStderr}`;
    if (/permission denied/i.test(message)) {
      return new SideloadError(
        "ENGINE_PERMISSION",
        `${this.where}: no permission to use the Docker Engine (${oneLine(message, 200)})`,
        {
          hint: "connect as root (--ssh-user root) or as a user in the proxy's docker group",
          exitStatus: 1,
          cause: error,
        },
      );
    }
    return new SideloadError(
      "ENGINE_UNREACHABLE",
      `${this.where}: the Docker Engine at ${this.socketPath} does not answer (${oneLine(message, 200)})`,
      {
        hint: "check that docker runs on the proxy (systemctl status docker), or set the proxy's dockerSocket in the inventory",
        exitStatus: 1,
        cause: error,
      },
    );
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const registryPatterns: [RegExp, ErrorCode, (registry: string) => string][] = [
  [
    /x509|certificate signed by unknown authority|certificate is not (valid|trusted)|tls: failed to verify/i,
    "REGISTRY_UNTRUSTED_CA",
    (r) =>
      `the proxy does not trust ${r}'s TLS certificate: pass --registry-ca FILE to install the registry's CA on the proxy`,
  ],
  [
    /toomanyrequests|too many requests|rate limit/i,
    "REGISTRY_RATE_LIMITED",
    () => "the registry is rate-limiting: try again later, or with a lower --concurrency",
  ],
  [
    /unauthorized|authentication required|no basic auth credentials|incorrect username or password|denied: requested access/i,
    "REGISTRY_UNAUTHORIZED",
    (r) =>
      `check the user and password for ${r} (--registry-user, --registry-password-stdin or MP_SIDELOAD_REGISTRY_*)`,
  ],
  [
    /manifest unknown|manifest for .* not found|not found: manifest|repository .* not found|name unknown|404 not found/i,
    "MANIFEST_UNKNOWN",
    (r) =>
      `the registry ${r} has no image with this digest: was the image pushed, and does the pak match the build?`,
  ],
  [
    /no such host|connection refused|i\/o timeout|network is unreachable|no route to host|dial tcp|server misbehaving|tls handshake timeout|connection reset|EOF/i,
    "REGISTRY_UNREACHABLE",
    (r) => `the proxy cannot reach ${r}: check DNS, routes, firewalls and proxies from the proxy's network`,
  ],
];

/** Turn an engine's registry error text into a stable code with a hint. */
export function classifyRegistryError(
  message: string,
  registry: string,
  where: string,
  during: "login" | "pull",
): SideloadError {
  for (const [pattern, code, hint] of registryPatterns) {
    if (pattern.test(message)) {
      return new SideloadError(
        code,
        `${where}: ${during} from ${registry} failed: ${oneLine(message, 300)}`,
        {
          hint: hint(registry),
          exitStatus: 1,
        },
      );
    }
  }
  return new SideloadError(
    "PULL_FAILED",
    `${where}: ${during} from ${registry} failed: ${oneLine(message, 300)}`,
    {
      hint: "run again with --debug for the engine's full answer",
      exitStatus: 1,
    },
  );
}
