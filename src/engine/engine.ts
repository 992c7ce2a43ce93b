/**
 * The Docker Engine of one proxy, through dockerode over an agent whose sockets are channels of
 * the proxy's SSH connection. Every call is bounded by the proxy's signal (deadline, Ctrl-C),
 * every answer read whole by the agent's cap, and the pull's stream by a bounded line.
 */
import type { RegistryAuth } from "../credentials/registry-auth.js";
import type { IncomingMessage } from "node:http";
import { setTimeout as delay } from "node:timers/promises";
import type Dockerode from "dockerode";
import { abortable } from "../abortable.js";
import { SideloadError, oneLine } from "../errors.js";
import type { ImageReference } from "../reference.js";
import { repositoryName, sameImageReference } from "../reference.js";
import type { SshConnection } from "../ssh/connect.js";
import { becomeError, sudoRefusal, type SudoAccess } from "../ssh/sudo.js";
import { LineTooLongError, boundedLines } from "./bounded-lines.js";
import { diskFullError, freeBytesUnder, isDiskFull } from "./disk-full.js";
import { classifyRegistryError } from "./registry-errors.js";
import { dockerodeClient, loadDockerode } from "./dockerode.js";
import {
  initialPullState,
  parsePullEvent,
  reducePullEvent,
  summarizePull,
  type PullProgress,
  type PullState,
} from "./pull-progress.js";
import { SshEngineAgent, type EngineTransport } from "./ssh-agent.js";

export type { PullProgress } from "./pull-progress.js";

/** An image as the engine lists it. */
export interface EngineImage {
  /** The image ID (`sha256:…` of its config). */
  id: string;
  /** `repo:tag` names (an image pulled by digest has none). */
  repoTags: string[];
  /** `repo@digest` names. */
  repoDigests: string[];
  /** Seconds since the epoch. */
  created: number;
  /** Bytes, layers shared with other images included. */
  size: number;
}

/** What prune needs of an engine: its images, the images its containers use, and removing a name. */
export type EngineImages = Pick<Engine, "listImages" | "containerImageIds" | "removeImageName">;

export interface PullOptions {
  /** Ends the pull (else the engine's own signal). */
  signal?: AbortSignal | undefined;
  /** Fail with PULL_STALLED when nothing moves for this long; absent: only the signal bounds it. */
  stallTimeoutMs?: number | undefined;
}

/** The engine's progress lines are a few hundred bytes; anything past this is not an engine's stream. */
export const maxPullLineBytes = 64 * 1024;

/** How long a ping after a cut pull may take before the connection itself counts as gone. */
const pingAfterCutMs = 3000;

/** dockerode passes `abortSignal` on to the request for these calls, though its types omit it. */
type Signalled<T> = (options: { abortSignal?: AbortSignal | undefined }) => Promise<T>;

/** The Docker Engine of one proxy, reached through that proxy's SSH connection. */
export class Engine {
  private readonly agent: SshEngineAgent;
  private client: Promise<Dockerode> | undefined;

  constructor(
    private readonly connection: SshConnection,
    readonly socketPath: string,
    private readonly where: string,
    transport?: EngineTransport,
    dialStdioHost?: string,
    /** Ends every call of this engine (per-proxy timeout, Ctrl-C); calls then reject with its reason. */
    private readonly signal?: AbortSignal,
    /** Reach the engine through sudo (become): its channels are `sudo … docker system dial-stdio`. */
    private readonly sudo?: SudoAccess & { sshUser: string },
  ) {
    this.agent = new SshEngineAgent(connection, socketPath, transport, dialStdioHost, sudo);
  }

  get transport(): EngineTransport | undefined {
    return this.agent.via;
  }

  /** `GET /version`: proves the engine answers. */
  async version(): Promise<{ version: string; apiVersion: string }> {
    const v = (await this.getObject("version")) as { Version?: unknown; ApiVersion?: unknown };
    return { version: text(v.Version), apiVersion: text(v.ApiVersion) };
  }

  /** `GET /info`: where the engine keeps its data, and its clock (and all of it, for the relay's checks). */
  async info(): Promise<{ rootDir: string; systemTime: string; raw: Record<string, unknown> }> {
    const info = (await this.getObject("info")) as { DockerRootDir?: unknown; SystemTime?: unknown };
    return { rootDir: text(info.DockerRootDir), systemTime: text(info.SystemTime), raw: info };
  }

  /** `GET /version` or `GET /info`: a JSON object, or the engine's error classified. */
  private async getObject(what: "version" | "info"): Promise<object> {
    try {
      return jsonObject(
        await this.call((docker, abortSignal) =>
          (docker[what].bind(docker) as Signalled<unknown>)({ abortSignal }),
        ),
      );
    } catch (error) {
      throw this.signal?.aborted ? error : this.engineError(error);
    }
  }

  /** The image's RepoDigests if the engine has an image for this reference, else undefined. */
  async repoDigests(reference: string): Promise<string[] | undefined> {
    try {
      // The reference passed the grammar: only [a-z0-9._:/@-], safe in a path as it is (the
      // engine takes the name's slashes literally). dockerode's inspect takes no signal: the
      // call is raced against it, and the session's close ends the channel.
      const info = jsonObject(await this.call((docker) => docker.getImage(reference).inspect())) as {
        RepoDigests?: unknown;
      };
      return Array.isArray(info.RepoDigests)
        ? info.RepoDigests.filter((d): d is string => typeof d === "string")
        : [];
    } catch (error) {
      if (this.signal?.aborted) throw error;
      if ((error as { statusCode?: unknown }).statusCode === 404) return undefined;
      throw this.engineError(error);
    }
  }

  /** True when the engine holds exactly `reference` among an image's RepoDigests. */
  async hasReference(reference: string): Promise<boolean> {
    return (await this.repoDigests(reference))?.some((d) => sameImageReference(reference, d)) ?? false;
  }

  /**
   * `GET /images/json?digests=true`: every image the engine holds, with its names (tags and
   * repo digests), when it was created and its size, for prune's selection.
   */
  async listImages(): Promise<EngineImage[]> {
    try {
      const answer = await this.call((docker, abortSignal) =>
        (docker.listImages.bind(docker) as (o: object) => Promise<unknown>)({ digests: true, abortSignal }),
      );
      return jsonArray(answer).map(engineImageOf);
    } catch (error) {
      throw this.signal?.aborted ? error : this.engineError(error);
    }
  }

  /**
   * `GET /containers/json?all=true`: the image IDs of every container, running or stopped. A
   * stopped adapter instance's container must keep its image: prune never removes these.
   */
  async containerImageIds(): Promise<Set<string>> {
    try {
      const answer = await this.call((docker, abortSignal) =>
        (docker.listContainers.bind(docker) as (o: object) => Promise<unknown>)({ all: true, abortSignal }),
      );
      const ids = jsonArray(answer).map((c) => (c as { ImageID?: unknown }).ImageID);
      return new Set(ids.filter((id): id is string => typeof id === "string"));
    } catch (error) {
      throw this.signal?.aborted ? error : this.engineError(error);
    }
  }

  /**
   * `DELETE /images/NAME` without force, as `docker rmi NAME` does: a name (`repo:tag` or
   * `repo@digest`) is untagged, and the image is deleted only when that was its last name. No
   * force: the engine itself refuses (409) an image a container uses. Returns what the engine did.
   */
  async removeImageName(name: string): Promise<{ untagged: string[]; deleted: string[] }> {
    // The name goes into the request path as it is: only the grammar's characters (no `?`, `#`).
    if (!/^[A-Za-z0-9][A-Za-z0-9._:/@[\]-]*$/.test(name)) {
      throw new SideloadError(
        "PRUNE_CONFLICT",
        `${this.where}: ${JSON.stringify(name)} is not a plain image name: left alone`,
        {
          hint: "remove it by hand on the proxy if it should go (docker rmi)",
        },
      );
    }
    try {
      const answer = await this.call((docker, abortSignal) =>
        (docker.getImage(name).remove.bind(docker.getImage(name)) as (o: object) => Promise<unknown>)({
          force: false,
          noprune: false,
          abortSignal,
        }),
      );
      const items = Array.isArray(answer) ? (answer as { Untagged?: unknown; Deleted?: unknown }[]) : [];
      const strings = (key: "Untagged" | "Deleted") =>
        items.map((i) => i[key]).filter((v): v is string => typeof v === "string");
      return { untagged: strings("Untagged"), deleted: strings("Deleted") };
    } catch (error) {
      if (this.signal?.aborted) throw error;
      const status = (error as { statusCode?: unknown }).statusCode;
      if (status === 404) return { untagged: [], deleted: [] };
      if (status === 409) {
        throw new SideloadError(
          "PRUNE_CONFLICT",
          `${this.where}: the engine refused to remove ${name}: ${oneLine(messageOf(error), 300)}`,
          {
            hint: "a container started meanwhile may use it; run mp-sideload prune again to see the current state",
            cause: error,
          },
        );
      }
      throw this.engineError(error);
    }
  }

  /**
   * `POST /auth`: the engine checks the credentials against the registry from the proxy's own
   * network position, so a bad password, an untrusted CA or an unreachable registry shows here,
   * before any pull.
   */
  async login(auth: RegistryAuth): Promise<void> {
    try {
      await this.call(
        (docker, abortSignal) => docker.checkAuth({ ...auth, abortSignal }) as Promise<unknown>,
      );
    } catch (error) {
      throw this.signal?.aborted
        ? error
        : classifyRegistryError(messageOf(error), auth.serveraddress, this.where, "login");
    }
  }

  /** `GET /_ping` within `ms`: whether the engine answers now. */
  async ping(ms: number): Promise<void> {
    const timeout = AbortSignal.timeout(ms);
    const abortSignal = this.signal ? AbortSignal.any([this.signal, timeout]) : timeout;
    const docker = await abortable(this.docker(), abortSignal);
    await abortable((docker.ping.bind(docker) as Signalled<unknown>)({ abortSignal }), abortSignal);
  }

  /**
   * `POST /images/create` for the digest; credentials only in the X-Registry-Auth header (which
   * docker-modem encodes as the engine decodes it: padded base64url, tested). Resolves when the
   * engine reports the pull complete; rejects with a classified error.
   */
  async pull(
    ref: ImageReference,
    auth: RegistryAuth | undefined,
    onProgress: (p: PullProgress) => void,
    options: PullOptions = {},
  ): Promise<void> {
    const outer = options.signal ?? this.signal;
    // The watchdog runs from the request on: an engine may hold back even the response's
    // headers while it waits on a download another pull started.
    const stall = new AbortController();
    const watchdog = new Watchdog(options.stallTimeoutMs, () => stall.abort(new Error("no progress")));
    // The SSH connection's end ends the pull at once: ssh2 ends a channel only once its reader
    // has drained it, which a pull whose connection also carried the relay's bytes may never do.
    const dropped = new AbortController();
    const unlisten = this.connection.onClose((error) =>
      dropped.abort(error ?? new Error("the SSH connection closed")),
    );
    const signal = AbortSignal.any([...(outer ? [outer] : []), stall.signal, dropped.signal]);
    let response: IncomingMessage | undefined;
    try {
      response = await this.startPull(ref, auth, signal);
      await abortable(this.follow(response, ref, onProgress, watchdog, signal), signal);
    } catch (error) {
      if (outer?.aborted) throw error;
      if (dropped.signal.aborted) throw this.dropError(dropped.signal.reason as Error);
      if (stall.signal.aborted) throw this.stalledError(ref, options.stallTimeoutMs ?? 0, error);
      throw error;
    } finally {
      unlisten();
      watchdog.stop();
      // An engine that still streams (after an error, a stall, the deadline) must not keep the
      // channel, and the run, open.
      if (response && !response.complete) response.destroy();
    }
  }

  private async startPull(
    ref: ImageReference,
    auth: RegistryAuth | undefined,
    signal: AbortSignal | undefined,
  ): Promise<IncomingMessage> {
    try {
      const docker = await abortable(this.docker(), signal);
      // docker-modem leaves an undefined abortSignal in the query string ("&abortSignal=").
      const query = {
        fromImage: repositoryName(ref),
        tag: ref.digest,
        ...(signal ? { abortSignal: signal } : {}),
      };
      const response = (await abortable(
        docker.createImage(auth === undefined ? undefined : { ...auth }, query),
        signal,
      )) as IncomingMessage;
      this.agent.streamAnswer(response.socket);
      return response;
    } catch (error) {
      if (signal?.aborted) throw error;
      throw await this.pullError(messageOf(this.agent.takeCapError() ?? error), ref, initialPullState);
    }
  }

  /** Read the pull's lines into its state, reporting progress; settles when the stream ends. */
  private async follow(
    response: IncomingMessage,
    ref: ImageReference,
    onProgress: (p: PullProgress) => void,
    watchdog: Watchdog,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    let state = initialPullState;
    try {
      for await (const line of boundedLines(response, maxPullLineBytes)) {
        const event = parsePullEvent(line);
        if (event === undefined) continue;
        const next = reducePullEvent(state, event);
        // The engine's own retries of a layer ("Retrying in N seconds", a few, then it gives up
        // with an error) are not a stall: it says what it is doing.
        if (next.advances !== state.advances || next.retryingInSeconds !== undefined) watchdog.restart();
        if (next === state) continue;
        state = next;
        if (state.error !== undefined) break;
        onProgress(summarizePull(state));
      }
    } catch (error) {
      if (signal?.aborted) throw error;
      if (error instanceof LineTooLongError) throw this.badStreamError(error);
      throw await this.cutError(error instanceof Error ? error : new Error(String(error)));
    }
    if (state.error !== undefined) throw await this.pullError(state.error, ref, state);
  }

  /** The engine's reason a pull failed, as a stable code; a full disk says where and how full. */
  private async pullError(message: string, ref: ImageReference, state: PullState): Promise<SideloadError> {
    if (!isDiskFull(message)) return classifyRegistryError(message, ref.registry, this.where, "pull");
    const rootDir = await this.info().then(
      (info) => info.rootDir,
      () => "",
    );
    return diskFullError({
      where: this.where,
      rootDir,
      freeBytes: await freeBytesUnder(this.connection, rootDir, this.signal),
      layersBytes: summarizePull(state).bytesTotal,
      message,
    });
  }

  /**
   * A pull's stream ended before its end. The channel went either with the SSH connection (a
   * network drop: reconnect) or alone while SSH stayed up (the engine restarted or died: ask it
   * again on the same connection). ssh2 may end the channels before it reports the connection
   * closed, hence the short wait; a ping that gets no answer at all means the connection is gone
   * too.
   */
  private async cutError(cause: Error): Promise<SideloadError> {
    await delay(50);
    if (this.connection.closed) return this.dropError(cause);
    const ping = await this.ping(pingAfterCutMs).then(
      () => "answers again" as const,
      (error: unknown) =>
        (error as Error).name === "TimeoutError" ? undefined : ("does not answer" as const),
    );
    if (ping === undefined || this.connection.closed) return this.dropError(cause);
    return new SideloadError(
      "ENGINE_RESTARTED",
      `${this.where}: the Docker Engine ended the pull's connection while SSH stayed up, and ${ping} (${oneLine(cause.message)}): it restarted or stopped`,
      {
        hint: "mp-sideload waits for the engine and re-issues the pull within --retries; if it keeps failing, check the engine on the proxy (systemctl status docker, journalctl -u docker)",
        cause,
      },
    );
  }

  private stalledError(ref: ImageReference, ms: number, cause: unknown): SideloadError {
    return new SideloadError(
      "PULL_STALLED",
      `${this.where}: the pull from ${ref.registry} made no progress for ${Math.round(ms / 1000)} s`,
      {
        hint: `the engine on the proxy receives nothing from ${ref.registry}: check the path between them (proxies, firewalls, the registry's storage); mp-sideload re-issues the pull within --retries; a slow link may need a longer --stall-timeout`,
        cause,
      },
    );
  }

  private badStreamError(error: LineTooLongError): SideloadError {
    return new SideloadError(
      "ENGINE_BAD_STREAM",
      `${this.where}: the engine at ${this.socketPath} sent a pull progress line of more than ${error.maxBytes / 1024} KiB: not a Docker Engine's answer`,
      {
        hint: "check what listens at that socket on the proxy (docker version there), or set the proxy's dockerSocket in the inventory",
        cause: error,
      },
    );
  }

  /**
   * One API call of another module of src/engine (containers.ts), bounded by this engine's signal
   * and answer cap like every call here.
   */
  request(
    run: (docker: Dockerode, abortSignal: AbortSignal | undefined) => Promise<unknown>,
  ): Promise<unknown> {
    return this.call(run);
  }

  /** dockerode, with this engine's agent; loaded on first use (a session starts the load early). */
  private docker(): Promise<Dockerode> {
    this.client ??= loadDockerode().then((Docker) => dockerodeClient(Docker, this.agent));
    return this.client;
  }

  /**
   * One API call, ended by this engine's signal whatever the far end does. An answer cut at the
   * cap fails with the cap's reason (Node's HTTP client reports only "aborted" for it).
   */
  private async call(
    run: (docker: Dockerode, abortSignal: AbortSignal | undefined) => Promise<unknown>,
  ): Promise<unknown> {
    try {
      return await abortable(
        this.docker().then((docker) => run(docker, this.signal)),
        this.signal,
      );
    } catch (error) {
      throw this.agent.takeCapError() ?? error;
    }
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
        cause: error,
      },
    );
  }

  private engineError(error: unknown): SideloadError {
    const message = `${messageOf(error)} ${this.agent.lastStderr}`;
    const refusal = this.sudo && sudoRefusal(this.agent.lastStderr);
    if (this.sudo && refusal !== undefined) {
      return becomeError(this.where, this.sudo.sshUser, this.sudo, refusal, this.agent.lastStderr.trim());
    }
    if (/permission denied/i.test(message)) {
      return new SideloadError(
        "ENGINE_PERMISSION",
        `${this.where}: no permission to use the Docker Engine (${oneLine(message, 200)})`,
        {
          hint: this.sudo
            ? `the engine refused ${this.sudo.user} too: become a user who may use it (--become-user root)`
            : "pass --become to reach the engine through sudo, or connect as root (--ssh-user root) or as a user in the proxy's docker group",
          cause: error,
        },
      );
    }
    return new SideloadError(
      "ENGINE_UNREACHABLE",
      `${this.where}: the Docker Engine at ${this.socketPath} does not answer (${oneLine(message, 200)})`,
      {
        hint: "check that docker runs on the proxy (systemctl status docker), or set the proxy's dockerSocket in the inventory",
        cause: error,
      },
    );
  }
}

/** The engine's own message in a dockerode error: its JSON `message`, else the text it sent. */
function messageOf(error: unknown): string {
  const json = (error as { json?: unknown } | undefined)?.json;
  if (
    typeof json === "object" &&
    json !== null &&
    typeof (json as { message?: unknown }).message === "string"
  ) {
    return (json as { message: string }).message;
  }
  const message = error instanceof Error ? error.message : String(error);
  // docker-modem's wording around the engine's message: "(HTTP code 500) server error - … ".
  return message.replace(/^\(HTTP code \d+\) [^-]*- /, "").trim() || message;
}

/** A string field of an engine's answer; anything else is "". */
function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** An answer that must be a JSON object (docker-modem hands back a Buffer when it is not JSON). */
function jsonObject(answer: unknown): object {
  if (typeof answer !== "object" || answer === null || Buffer.isBuffer(answer) || Array.isArray(answer)) {
    throw new Error("the engine answered with something that is not a JSON object");
  }
  return answer;
}

/** An answer that must be a JSON array. */
function jsonArray(answer: unknown): unknown[] {
  if (!Array.isArray(answer)) throw new Error("the engine answered with something that is not a JSON list");
  return answer;
}

/** One entry of `GET /images/json` as prune reads it; odd fields become empty values. */
function engineImageOf(entry: unknown): EngineImage {
  const e = (typeof entry === "object" && entry !== null ? entry : {}) as Record<string, unknown>;
  const strings = (value: unknown) =>
    Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
  const number = (value: unknown) => (typeof value === "number" && Number.isFinite(value) ? value : 0);
  return {
    id: typeof e.Id === "string" ? e.Id : "",
    repoTags: strings(e.RepoTags),
    repoDigests: strings(e.RepoDigests),
    created: number(e.Created),
    size: number(e.Size),
  };
}

/** Calls `fire` once when `restart` has not been called for `ms`; no `ms`, never. */
class Watchdog {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ms: number | undefined,
    private readonly fire: () => void,
  ) {
    this.restart();
  }

  restart(): void {
    if (this.ms === undefined) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(this.fire, this.ms);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
