/**
 * The registry as the proxies will see it, asked from the workstation over the registry HTTP
 * API v2: anonymous first (can the proxies pull it themselves?), then with the credentials
 * (Basic or Bearer challenges, as the docker client answers them), the manifest by digest with
 * the OCI and Docker media types, its digest compared, an index searched for linux/amd64.
 */
import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { createSecureContext, rootCertificates, type SecureContext } from "node:tls";
import { join, posix, win32 } from "node:path";
import https from "node:https";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { SideloadError, oneLine, quote, type ErrorCode, type ErrorInfo, toErrorInfo } from "../errors.js";
import type { RegistryAuth } from "../credentials/registry-auth.js";
import { homeDir, readTextFileSync } from "../files.js";
import type { ImageReference } from "../reference.js";
import { httpsExchange, type HttpAnswer, type HttpRequest } from "./https-exchange.js";

const manifestTypes = {
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
};
const accept = Object.values(manifestTypes).join(", ");

/** What the workstation learned about one reference. */
export interface RegistryVerdict {
  reference: string;
  registry: string;
  /** `public`: anonymous pulls work; `ok`: pulls with the credentials work; else `failed`. */
  status: "public" | "ok" | "failed";
  mediaType?: string | undefined;
  /** Time spent waiting out rate limits (HTTP 429) during the check. */
  waitedMs?: number | undefined;
  /** Bytes to download (config and layers) for a single-platform manifest. */
  size?: number | undefined;
  /** `os/architecture` of each image of an index. */
  platforms?: string[] | undefined;
  error?: ErrorInfo | undefined;
}

export interface RegistryClientOptions {
  /** Extra PEM CAs (--registry-ca). */
  ca?: string | undefined;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal | undefined;
  /** Per request; default 15 s. */
  timeoutMs?: number;
  /** The docker certs.d folder whose <registry>/*.crt are trusted, as the engine trusts them. */
  certsDir?: string;
  /** Tries after a rate limit (HTTP 429): --retries; default 3. */
  retries?: number | undefined;
  /** The most the waits of one check may add up to (the run's --timeout); default 60 s. */
  waitBudgetMs?: number | undefined;
  /** Told of each wait before it starts, for the operator ("rate-limited: waiting 2 s"). */
  onWait?: ((wait: RateLimitWait) => void) | undefined;
}

/** A manifest as the registry served it: its bytes, their digest (checked), its media type. */
export interface FetchedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

/** A refusal carrying the registry's Retry-After, for the relay to pass on. */
export type RegistryRefusal = SideloadError & { retryAfter?: string };

function withRetryAfter(error: SideloadError, response: HttpAnswer): RegistryRefusal {
  const retryAfter = response.status === 429 ? response.header("retry-after") : undefined;
  return retryAfter === undefined ? error : Object.assign(error, { retryAfter });
}

/** One wait for a rate limit, as reported. */
export interface RateLimitWait {
  registry: string;
  reference: string;
  waitMs: number;
  /** The try that follows the wait, from 2. */
  attempt: number;
  /** The registry's Retry-After, when it sent one. */
  retryAfter?: string | undefined;
}

/** The line that tells the operator of a wait: `docker.io: rate-limited (HTTP 429) for …; waiting 2 s (Retry-After) before try 2`. */
export function rateLimitWaitMessage(wait: RateLimitWait): string {
  const why = wait.retryAfter === undefined ? "" : " (Retry-After)";
  return `${wait.registry}: rate-limited (HTTP 429) checking ${wait.reference}; waiting ${seconds(wait.waitMs)}${why} before try ${wait.attempt}`;
}

/** What one check spent on rate limits: for the verdict and the message. */
interface RateLimitTrace {
  reference: string;
  waitedMs: number;
  waits: number;
  /** Why the last 429 was not waited out, when it was not. */
  gaveUp?: string;
}

/**
 * `Retry-After` in milliseconds: delta-seconds or an HTTP date (RFC 9110); undefined when
 * absent or unreadable.
 */
export function parseRetryAfter(header: string | undefined, now = Date.now()): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Docker Hub's names (the engine maps both onto registry-1.docker.io). */
function isDockerHub(registry: string): boolean {
  return ["docker.io", "index.docker.io"].includes(registry);
}

/** The API's host: Docker Hub's names all mean registry-1.docker.io. */
function apiHost(registry: string): string {
  return isDockerHub(registry) ? "registry-1.docker.io" : registry;
}

/** `2 s`, `1.5 s`. */
function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/**
 * The CAs trusted for `registry`: Node's bundle, the system's bundle, NODE_EXTRA_CA_CERTS, the
 * Docker certs.d folders for this registry (what the workstation's own engine trusts), and
 * --registry-ca.
 */
export function trustedCas(
  registry: string,
  options: RegistryClientOptions,
  platform: NodeJS.Platform = process.platform,
): string[] {
  const cas = workstationCas(options.env);
  for (const dir of options.certsDir === undefined
    ? dockerCertsDirs(options.env, platform)
    : [options.certsDir]) {
    const certsDir = join(dir, registry);
    try {
      for (const name of readdirSync(certsDir)) if (name.endsWith(".crt")) readIf(cas, join(certsDir, name));
    } catch {
      // no certs.d entry for this registry
    }
  }
  if (options.ca) cas.push(options.ca);
  return cas;
}

/**
 * Where Docker keeps per-registry CAs on this machine: `~/.docker/certs.d` (Docker Desktop on
 * macOS and Windows; rootless Docker on Linux), and on Linux also `/etc/docker/certs.d`.
 */
export function dockerCertsDirs(
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform = process.platform,
): string[] {
  const path = platform === "win32" ? win32 : posix;
  const home = path.join(homeDir(env, platform), ".docker", "certs.d");
  return platform === "linux" ? [home, "/etc/docker/certs.d"] : [home];
}

/** The CAs this machine trusts for any HTTPS server: Node's bundle, the system's, NODE_EXTRA_CA_CERTS. */
export function workstationCas(env: NodeJS.ProcessEnv): string[] {
  const cas = [...rootCertificates];
  readIf(cas, "/etc/ssl/certs/ca-certificates.crt");
  if (env.NODE_EXTRA_CA_CERTS) readIf(cas, env.NODE_EXTRA_CA_CERTS);
  return cas;
}

function readIf(cas: string[], file: string): void {
  try {
    // A regular file of bounded size: a FIFO planted in certs.d must not hang the check.
    cas.push(readTextFileSync(file, { what: "CA bundle", hint: "", maxBytes: 16 * 1024 * 1024 }));
  } catch {
    // absent (or not a file): nothing to add
  }
}

/**
 * One TLS context for every connection to a registry, with each certificate once: `ca` given
 * per connection made Node parse ~290 certificates (Node's roots and the system bundle, mostly
 * the same) for each one, ~40 ms apiece.
 */
export function secureContextFor(pems: string[]): SecureContext {
  const byBody = new Map<string, string>();
  for (const pem of pems) {
    for (const cert of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []) {
      byBody.set(cert.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, ""), cert);
    }
  }
  return createSecureContext({ ca: [...byBody.values()] });
}

interface Challenge {
  scheme: "basic" | "bearer";
  params: Record<string, string>;
}

/** Parse `WWW-Authenticate: Bearer realm="…",service="…",scope="…"`. */
export function parseChallenge(header: string | null | undefined): Challenge | undefined {
  if (!header) return undefined;
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const scheme = (match[1] ?? "").toLowerCase();
  if (scheme !== "basic" && scheme !== "bearer") return undefined;
  const params: Record<string, string> = {};
  for (const p of (match[2] ?? "").matchAll(/(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[(p[1] ?? "").toLowerCase()] = (p[2] ?? p[3] ?? "").replace(/\\(.)/g, "$1");
  }
  return { scheme, params };
}

/** A registry API client for one registry host. */
export class RegistryClient {
  private readonly agent: https.Agent;
  private readonly base: string;
  /** The registry answered HEAD with 405/501: GET only from then on. */
  private noHead = false;
  /** Per repository, the Authorization that the registry last accepted. */
  private readonly authorizations = new Map<string, string>();

  constructor(
    readonly registry: string,
    private readonly options: RegistryClientOptions,
  ) {
    this.base = `https://${apiHost(registry)}`;
    // One TLS context and one pool of kept-alive connections for every request to it.
    this.agent = new https.Agent({
      keepAlive: true,
      secureContext: secureContextFor(trustedCas(registry, options)),
    });
  }

  close(): Promise<void> {
    this.agent.destroy();
    return Promise.resolve();
  }

  /**
   * Check one reference, anonymously when `auth` is undefined, else with `auth`. Never throws
   * for what the registry (or the network) answers: the verdict says it.
   */
  async check(
    ref: ImageReference & { reference: string },
    auth: RegistryAuth | undefined,
  ): Promise<RegistryVerdict> {
    const trace: RateLimitTrace = { reference: ref.reference, waitedMs: 0, waits: 0 };
    const verdict = (
      status: RegistryVerdict["status"],
      extra: Partial<RegistryVerdict> = {},
    ): RegistryVerdict => ({
      reference: ref.reference,
      registry: ref.registry,
      status,
      ...(trace.waitedMs > 0 ? { waitedMs: trace.waitedMs } : {}),
      ...extra,
    });
    try {
      const answer = await this.manifest(ref, auth, trace);
      if (answer.ok)
        return verdict(
          auth === undefined ? "public" : "ok",
          await this.inspectManifest(ref, answer.response),
        );
      answer.response.discard();
      return verdict("failed", {
        error: toErrorInfo(this.failure(answer.response.status, ref, auth !== undefined, trace)),
      });
    } catch (error) {
      return verdict("failed", { error: toErrorInfo(this.networkError(error)) });
    }
  }

  /** The manifest by digest, answering one 401 challenge the way the docker client does. */
  private async manifest(ref: ImageReference, auth: RegistryAuth | undefined, trace: RateLimitTrace) {
    const url = `${this.base}/v2${ref.repository}/manifests/${ref.digest}`;
    return this.answerChallenge(ref.repository, auth, (headers) => this.fetchManifest(url, headers, trace));
  }

  /**
   * `send` without credentials, then once more with what the registry's 401 challenge asks for
   * (Basic, or a Bearer token for `repository`'s pull scope). The authorization that worked is
   * kept per repository, so the relay's many blob requests fetch one token, not one each.
   */
  private async answerChallenge(
    repository: string,
    auth: RegistryAuth | undefined,
    send: (headers: Record<string, string>) => Promise<HttpAnswer>,
  ): Promise<{ ok: boolean; response: HttpAnswer }> {
    const kept = this.authorizations.get(repository);
    let response = await send(kept === undefined ? {} : { authorization: kept });
    if (response.status !== 401) return { ok: response.ok, response };
    const challenge = parseChallenge(response.header("www-authenticate"));
    response.discard();
    let authorization: string | undefined;
    if (challenge?.scheme === "basic") {
      if (auth === undefined || auth.identitytoken) return { ok: false, response };
      authorization = basic(auth);
    } else if (challenge?.scheme === "bearer") {
      const token = await this.token(challenge, repository, auth);
      if (token === undefined) return { ok: false, response: refused };
      authorization = `Bearer ${token}`;
    } else return { ok: false, response };
    response = await send({ authorization });
    if (response.ok) this.authorizations.set(repository, authorization);
    return { ok: response.ok, response };
  }

  /**
   * The manifest `ref` names, byte for byte as the registry serves it, its digest checked (the
   * relay hands these bytes to the proxies' engines). Throws the check's errors.
   */
  async getManifest(
    ref: ImageReference & { reference: string },
    auth: RegistryAuth | undefined,
  ): Promise<FetchedManifest> {
    const trace: RateLimitTrace = { reference: ref.reference, waitedMs: 0, waits: 0 };
    const url = `${this.base}/v2${ref.repository}/manifests/${ref.digest}`;
    let answer: { ok: boolean; response: HttpAnswer };
    try {
      answer = await this.answerChallenge(ref.repository, auth, (headers) => this.get(url, headers, trace));
    } catch (error) {
      throw this.networkError(error);
    }
    if (!answer.ok) {
      answer.response.discard();
      throw withRetryAfter(
        this.failure(answer.response.status, ref, auth !== undefined, trace),
        answer.response,
      );
    }
    const bytes = await answer.response.bytes();
    const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    if (digest !== ref.digest) {
      throw new SideloadError(
        "MANIFEST_UNKNOWN",
        `${this.registry}: asked for ${ref.digest}, the registry served ${digest}`,
        { hint: "the registry does not hold the manifest the pak names" },
      );
    }
    const mediaType = (answer.response.header("content-type") ?? "").split(";")[0]?.trim() ?? "";
    return { digest, mediaType, bytes };
  }

  /**
   * A blob of `repository` as a stream, redirects followed here (credentials never follow one to
   * another origin): the proxies never see the blob's real location. The request's time limit
   * covers the answer's headers; the body ends with an error after `timeoutMs` without a byte.
   */
  async getBlob(
    ref: ImageReference & { reference: string },
    digest: string,
    auth: RegistryAuth | undefined,
  ): Promise<Readable> {
    const trace: RateLimitTrace = { reference: ref.reference, waitedMs: 0, waits: 0 };
    const url = `${this.base}/v2${ref.repository}/blobs/${digest}`;
    let answer: { ok: boolean; response: HttpAnswer };
    try {
      answer = await this.answerChallenge(ref.repository, auth, (headers) =>
        this.request(url, { method: "GET", headers, stream: true }, trace),
      );
    } catch (error) {
      throw this.networkError(error);
    }
    if (!answer.ok) {
      answer.response.discard();
      const failure = this.failure(answer.response.status, ref, auth !== undefined, trace);
      throw withRetryAfter(
        failure.code === "MANIFEST_UNKNOWN"
          ? new SideloadError("MANIFEST_UNKNOWN", `${this.registry}${ref.repository}: no blob ${digest}`, {})
          : failure,
        answer.response,
      );
    }
    const body = answer.response.stream();
    body.setTimeout?.(this.options.timeoutMs ?? 15_000, () =>
      body.destroy(new Error(`${this.registry}: the blob ${digest} stalled`)),
    );
    return body;
  }

  /**
   * HEAD first: a refusal (401, 404, 429) needs no body, and Docker Hub does not count a HEAD
   * against its pull limit. The body is fetched (GET) only when the check needs it: an image
   * index (is linux/amd64 in it?), a HEAD without Docker-Content-Digest, or the download size
   * from a registry other than Docker Hub (where a GET would count as a pull). A registry that
   * answers HEAD with 405 or 501 gets GET from then on.
   */
  private async fetchManifest(
    url: string,
    headers: Record<string, string>,
    trace: RateLimitTrace,
  ): Promise<HttpAnswer & { fromHead?: boolean }> {
    if (!this.noHead) {
      const head = await this.request(url, { method: "HEAD", headers: { accept, ...headers } }, trace);
      head.discard();
      if (head.status === 405 || head.status === 501) this.noHead = true;
      else if (!head.ok) return head;
      else {
        const type = (head.header("content-type") ?? "").split(";")[0]?.trim();
        const index = type === manifestTypes.dockerList || type === manifestTypes.ociIndex;
        const digest = head.header("docker-content-digest") !== undefined;
        if (digest && !index && isDockerHub(this.registry)) return { ...head, fromHead: true };
      }
    }
    return this.get(url, headers, trace);
  }

  /** A Bearer token from the challenge's realm; undefined when the realm refuses. */
  private async token(
    challenge: Challenge,
    repository: string,
    auth: RegistryAuth | undefined,
  ): Promise<string | undefined> {
    const realm = challenge.params.realm;
    if (!realm) throw this.badAnswer("its Bearer challenge names no realm (token service)");
    const scope = `repository:${repository.slice(1)}:pull`;
    const service = challenge.params.service;
    let response: HttpAnswer;
    if (auth?.identitytoken) {
      // An identity token is an OAuth refresh token: exchanged by POST, as the docker client does.
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: auth.identitytoken,
        client_id: "mp-sideload",
        scope,
      });
      if (service) form.set("service", service);
      response = await this.request(realm, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form.toString(),
      });
    } else {
      const url = new URL(realm);
      if (service) url.searchParams.set("service", service);
      url.searchParams.set("scope", scope);
      response = await this.get(url.toString(), auth ? { authorization: basic(auth) } : {});
    }
    if (response.status === 401 || response.status === 403) {
      response.discard();
      return undefined;
    }
    if (!response.ok) {
      response.discard();
      throw new SideloadError(
        "REGISTRY_UNREACHABLE",
        `${this.registry}: the token service answered HTTP ${response.status}`,
        {
          hint: "the registry's token service is failing: try again later",
        },
      );
    }
    const body = this.json(await response.bytes(), `the token service ${quote(realm, 100)}`);
    const token = body.token ?? body.access_token;
    if (typeof token === "string" && token !== "") return token;
    throw this.badAnswer(`the token service ${quote(realm, 100)} answered JSON without a token`);
  }

  /**
   * A body that must be a JSON object (a manifest, an index, a token): parsed, or
   * REGISTRY_BAD_ANSWER naming what it was and how it began. Without this a parse error fell
   * into the network catch and read as "cannot reach it", though the registry had answered.
   */
  private json(bytes: Buffer, what: string): Record<string, unknown> {
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString("utf8"));
    } catch {
      value = undefined;
    }
    if (typeof value === "object" && value !== null && !Array.isArray(value))
      return value as Record<string, unknown>;
    const start = bytes.subarray(0, 60).toString("utf8");
    throw this.badAnswer(
      `its answer for ${what} is ${bytes.length} bytes that are not a JSON object (${bytes.length === 0 ? "empty" : `starting ${quote(start, 60)}`})`,
    );
  }

  private badAnswer(message: string): SideloadError {
    return new SideloadError("REGISTRY_BAD_ANSWER", `${this.registry}: ${message}`, {
      hint: `${this.registry} answered, but not as a registry API v2 does: is this host:port the registry itself (not a web server, a login page or a proxy in front of it)? see what it serves with curl -i https://${apiHost(this.registry)}/v2/`,
    });
  }

  /** Media type, digest check, and for an index whether linux/amd64 is in it. */
  private async inspectManifest(
    ref: ImageReference,
    response: HttpAnswer & { fromHead?: boolean },
  ): Promise<Partial<RegistryVerdict>> {
    const bytes = response.fromHead ? Buffer.alloc(0) : await response.bytes();
    const mediaType = (response.header("content-type") ?? "").split(";")[0]?.trim();
    const what = `the manifest ${ref.digest}`;
    // Before the digest: an HTML page served with 200 is a bad answer, not an unknown manifest.
    const body = response.fromHead ? {} : this.json(bytes, what);
    const served =
      response.header("docker-content-digest") ??
      `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    if (served !== ref.digest) {
      return {
        status: "failed",
        mediaType,
        error: {
          code: "MANIFEST_UNKNOWN",
          message: `${this.registry}: asked for ${ref.digest}, the registry served ${oneLine(served, 100)}`,
          hint: "the registry does not hold the manifest the pak names: was the image pushed, and does the pak match the build?",
        },
      };
    }
    if (response.fromHead) return { mediaType }; // a single-platform manifest: nothing more to check
    if (mediaType !== manifestTypes.dockerList && mediaType !== manifestTypes.ociIndex) {
      const manifest = body as { config?: { size?: unknown }; layers?: unknown };
      const layers = Array.isArray(manifest.layers) ? (manifest.layers as { size?: unknown }[]) : [];
      const size = [manifest.config, ...layers].reduce((sum, part) => sum + sizeOf(part), 0);
      return { mediaType, ...(size > 0 ? { size } : {}) };
    }
    const manifests = (body as { manifests?: unknown }).manifests;
    if (!Array.isArray(manifests)) throw this.badAnswer(`${what} is an image index without a manifests list`);
    const platforms = (manifests as { platform?: { os?: string; architecture?: string } }[]).map(
      (m) => `${m?.platform?.os ?? "?"}/${m?.platform?.architecture ?? "?"}`,
    );
    if (!platforms.includes("linux/amd64")) {
      return {
        status: "failed",
        mediaType,
        platforms,
        error: {
          code: "PLATFORM_MISSING",
          message: `${this.registry}: the image index ${ref.digest} has no linux/amd64 image (it has ${platforms.join(", ") || "none"})`,
          hint: "cloud proxies run linux/amd64: build and push the adapter image for linux/amd64",
        },
      };
    }
    return { mediaType, platforms };
  }

  private failure(
    status: number,
    ref: ImageReference,
    withAuth: boolean,
    trace: RateLimitTrace,
  ): SideloadError {
    const where = `${this.registry}${ref.repository}@${ref.digest}`;
    const code: ErrorCode =
      status === 401 || status === 403
        ? "REGISTRY_UNAUTHORIZED"
        : status === 404
          ? "MANIFEST_UNKNOWN"
          : status === 429
            ? "REGISTRY_RATE_LIMITED"
            : "REGISTRY_UNREACHABLE";
    const hints: Record<string, string> = {
      REGISTRY_UNAUTHORIZED: withAuth
        ? `the registry refused the credentials for ${this.registry}: check the user and password (or token) and the user's pull permission`
        : `${this.registry} refuses anonymous pulls and no credentials were found: see the README for the credential sources`,
      MANIFEST_UNKNOWN: `the registry has no manifest ${ref.digest}: was the image pushed, and does the pak match the build?`,
      REGISTRY_RATE_LIMITED: isDockerHub(this.registry)
        ? "Docker Hub limits anonymous and free-account pulls: give credentials (a login raises the limit), or try again later with a larger --retries or --timeout"
        : "the registry is rate-limiting: try again later, or with a larger --retries or --timeout",
      REGISTRY_UNREACHABLE: "the registry is failing: try again later, or check its logs",
    };
    const waited =
      status !== 429
        ? ""
        : ` (rate-limited; waited ${seconds(trace.waitedMs)} over ${trace.waits} ${trace.waits === 1 ? "retry" : "retries"}${trace.gaveUp === undefined ? "" : `; ${trace.gaveUp}`})`;
    return new SideloadError(
      code,
      `${where}: HTTP ${status}${withAuth ? " with the credentials" : " anonymously"}${waited}`,
      {
        hint: hints[code],
      },
    );
  }

  /** Tell DNS, refused, timeout and TLS trust apart. */
  private networkError(error: unknown): SideloadError {
    if (error instanceof SideloadError) return error;
    const cause = ((error as { cause?: unknown }).cause ?? error) as { code?: string; message?: string };
    const code = cause.code ?? "";
    // Set by httpsExchange when the hop that failed was a redirect's: only its origin (a
    // presigned URL's query carries a signature).
    const redirectedTo = (error as { redirectedTo?: string }).redirectedTo;
    const host = redirectedTo === undefined ? apiHost(this.registry) : new URL(redirectedTo).host;
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS/i.test(code)) {
      return new SideloadError(
        "REGISTRY_UNTRUSTED_CA",
        redirectedTo === undefined
          ? `${this.registry}: its TLS certificate is not trusted here (${code})`
          : `${this.registry}: its blob redirect to ${redirectedTo}: that server's TLS certificate is not trusted here (${code})`,
        {
          hint: "pass --registry-ca FILE with the CA that signed the registry's certificate (it is also installed on the proxies)",
        },
      );
    }
    const why: Record<string, string> = {
      ENOTFOUND: `the name ${host} is not found (DNS)`,
      EAI_AGAIN: `the name ${host} could not be looked up (DNS)`,
      ECONNREFUSED: "connection refused",
      ECONNRESET: "connection reset",
      EHOSTUNREACH: "host unreachable",
      ENETUNREACH: "network unreachable",
      ETIMEDOUT: "connection timed out",
      EPROTO: "not TLS (is it a plain-HTTP registry?)",
    };
    const name = (error as { name?: string }).name;
    const message =
      why[code] ??
      (name === "TimeoutError" || name === "AbortError"
        ? "no answer in time"
        : oneLine(cause.message ?? String(error), 200));
    if (redirectedTo !== undefined) {
      return new SideloadError(
        "REGISTRY_UNREACHABLE",
        `${this.registry}: its blob redirect to ${redirectedTo} cannot be followed from this machine: ${message}`,
        {
          hint: "the registry hands its blobs to another server (a storage service or CDN): this machine must reach that server too (its firewall, proxies, DNS)",
        },
      );
    }
    return new SideloadError(
      "REGISTRY_UNREACHABLE",
      `${this.registry}: cannot reach it from this machine: ${message}`,
      {
        hint: "check the name, port, DNS and proxies of this machine's network; the cloud proxies may still reach it",
      },
    );
  }

  private get(url: string, headers: Record<string, string>, trace?: RateLimitTrace) {
    return this.request(url, { method: "GET", headers: { accept, ...headers } }, trace);
  }

  /**
   * One request; with a `trace`, an HTTP 429 is waited out and tried again: for the
   * registry's Retry-After (else 1, 2, 4… s), within --retries tries and the wait budget
   * (--timeout), each wait reported before it starts. The last 429 is returned when the
   * tries or the budget are spent, and the trace says why.
   */
  private async request(url: string, init: HttpRequest, trace?: RateLimitTrace): Promise<HttpAnswer> {
    const retries = this.options.retries ?? 3;
    const budgetMs = this.options.waitBudgetMs ?? 60_000;
    for (let attempt = 1; ; attempt++) {
      // A streamed body (a blob) may take longer than the time limit: it covers the headers.
      const timeout = new AbortController();
      const timer = setTimeout(
        () => timeout.abort(new DOMException("no answer in time", "TimeoutError")),
        this.options.timeoutMs ?? 15_000,
      );
      const signal = this.options.signal
        ? AbortSignal.any([this.options.signal, timeout.signal])
        : timeout.signal;
      let answer: HttpAnswer;
      try {
        answer = await httpsExchange(url, init, this.agent, signal);
      } finally {
        if (init.stream === true) clearTimeout(timer);
      }
      if (init.stream !== true) timer.unref();
      if (answer.status !== 429 || trace === undefined) return answer;
      const retryAfter = answer.header("retry-after");
      const waitMs = parseRetryAfter(retryAfter) ?? Math.min(1000 * 2 ** (attempt - 1), 30_000);
      const left = budgetMs - trace.waitedMs;
      if (attempt > retries) {
        trace.gaveUp = `no tries left (--retries ${retries})`;
        return answer;
      }
      if (waitMs > left) {
        trace.gaveUp = `asked to wait ${seconds(waitMs)}${retryAfter === undefined ? "" : " (Retry-After)"}, more than the ${seconds(left)} left of the time allowed`;
        return answer;
      }
      answer.discard();
      this.options.onWait?.({
        registry: this.registry,
        reference: trace.reference,
        waitMs,
        attempt: attempt + 1,
        retryAfter,
      });
      await sleep(waitMs, undefined, this.options.signal ? { signal: this.options.signal } : {});
      trace.waitedMs += waitMs;
      trace.waits++;
    }
  }
}

/** The answer a token service's refusal stands for. */
const refused: HttpAnswer = {
  status: 401,
  ok: false,
  header: () => undefined,
  bytes: () => Promise.resolve(Buffer.alloc(0)),
  discard: () => undefined,
  stream: () => Readable.from([]),
};

/** A descriptor's size when it is a non-negative number, else 0. */
function sizeOf(part: unknown): number {
  const size = (part as { size?: unknown } | undefined)?.size;
  return typeof size === "number" && Number.isFinite(size) && size > 0 ? size : 0;
}

function basic(auth: RegistryAuth): string {
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`;
}
