/**
 * The registry as the proxies will see it, asked from the workstation over the registry HTTP
 * API v2: anonymous first (can the proxies pull it themselves?), then with the credentials
 * (Basic or Bearer challenges, as the docker client answers them), the manifest by digest with
 * the OCI and Docker media types, its digest compared, an index searched for linux/amd64.
 */
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { createSecureContext, rootCertificates, type SecureContext } from "node:tls";
import { join } from "node:path";
import https from "node:https";
import { SideloadError, oneLine, type ErrorCode, type ErrorInfo, toErrorInfo } from "../errors.js";
import type { RegistryAuth } from "../engine/engine.js";
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
}

/** The API's host: Docker Hub's names all mean registry-1.docker.io. */
function apiHost(registry: string): string {
  return ["docker.io", "index.docker.io"].includes(registry) ? "registry-1.docker.io" : registry;
}

/**
 * The CAs trusted for `registry`: Node's bundle, the system's bundle, NODE_EXTRA_CA_CERTS, the
 * Docker certs.d folder for this registry (what the workstation's own engine trusts), and
 * --registry-ca.
 */
export function trustedCas(registry: string, options: RegistryClientOptions): string[] {
  const cas = workstationCas(options.env);
  const certsDir = join(options.certsDir ?? "/etc/docker/certs.d", registry);
  try {
    for (const name of readdirSync(certsDir)) if (name.endsWith(".crt")) readIf(cas, join(certsDir, name));
  } catch {
    // no certs.d entry for this registry
  }
  if (options.ca) cas.push(options.ca);
  return cas;
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
    cas.push(readFileSync(file, "utf8"));
  } catch {
    // absent: nothing to add
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
    const verdict = (
      status: RegistryVerdict["status"],
      extra: Partial<RegistryVerdict> = {},
    ): RegistryVerdict => ({
      reference: ref.reference,
      registry: ref.registry,
      status,
      ...extra,
    });
    try {
      const answer = await this.manifest(ref, auth);
      if (answer.ok)
        return verdict(
          auth === undefined ? "public" : "ok",
          await this.inspectManifest(ref, answer.response),
        );
      answer.response.discard();
      return verdict("failed", {
        error: toErrorInfo(this.failure(answer.response.status, ref, auth !== undefined)),
      });
    } catch (error) {
      return verdict("failed", { error: toErrorInfo(this.networkError(error)) });
    }
  }

  /** GET the manifest by digest, answering one 401 challenge the way the docker client does. */
  private async manifest(ref: ImageReference, auth: RegistryAuth | undefined) {
    const url = `${this.base}/v2${ref.repository}/manifests/${ref.digest}`;
    let response = await this.get(url, {});
    if (response.status !== 401) return { ok: response.ok, response };
    const challenge = parseChallenge(response.header("www-authenticate"));
    response.discard();
    if (challenge?.scheme === "basic") {
      if (auth === undefined || auth.identitytoken) return { ok: false, response };
      response = await this.get(url, { authorization: basic(auth) });
    } else if (challenge?.scheme === "bearer") {
      const token = await this.token(challenge, ref, auth);
      if (token === undefined) return { ok: false, response: refused };
      response = await this.get(url, { authorization: `Bearer ${token}` });
    }
    return { ok: response.ok, response };
  }

  /** A Bearer token from the challenge's realm; undefined when the realm refuses. */
  private async token(
    challenge: Challenge,
    ref: ImageReference,
    auth: RegistryAuth | undefined,
  ): Promise<string | undefined> {
    const realm = challenge.params.realm;
    if (!realm)
      throw new SideloadError(
        "REGISTRY_UNREACHABLE",
        `${this.registry}: a Bearer challenge without a realm`,
        { exitStatus: 1 },
      );
    const scope = `repository:${ref.repository.slice(1)}:pull`;
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
          exitStatus: 1,
        },
      );
    }
    const body = JSON.parse((await response.bytes()).toString("utf8")) as {
      token?: string;
      access_token?: string;
    };
    return body.token ?? body.access_token;
  }

  /** Media type, digest check, and for an index whether linux/amd64 is in it. */
  private async inspectManifest(
    ref: ImageReference,
    response: HttpAnswer,
  ): Promise<Partial<RegistryVerdict>> {
    const bytes = await response.bytes();
    const mediaType = (response.header("content-type") ?? "").split(";")[0]?.trim();
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
    if (mediaType !== manifestTypes.dockerList && mediaType !== manifestTypes.ociIndex) {
      const manifest = JSON.parse(bytes.toString("utf8")) as {
        config?: { size?: number };
        layers?: { size?: number }[];
      };
      const size =
        (manifest.config?.size ?? 0) + (manifest.layers ?? []).reduce((sum, l) => sum + (l.size ?? 0), 0);
      return { mediaType, ...(size > 0 ? { size } : {}) };
    }
    const index = JSON.parse(bytes.toString("utf8")) as {
      manifests?: { platform?: { os?: string; architecture?: string } }[];
    };
    const platforms = (index.manifests ?? []).map(
      (m) => `${m.platform?.os ?? "?"}/${m.platform?.architecture ?? "?"}`,
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

  private failure(status: number, ref: ImageReference, withAuth: boolean): SideloadError {
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
      REGISTRY_RATE_LIMITED: "the registry is rate-limiting: try again later",
      REGISTRY_UNREACHABLE: "the registry is failing: try again later, or check its logs",
    };
    return new SideloadError(
      code,
      `${where}: HTTP ${status}${withAuth ? " with the credentials" : " anonymously"}`,
      {
        hint: hints[code],
        exitStatus: 1,
      },
    );
  }

  /** Tell DNS, refused, timeout and TLS trust apart. */
  private networkError(error: unknown): SideloadError {
    if (error instanceof SideloadError) return error;
    const cause = ((error as { cause?: unknown }).cause ?? error) as { code?: string; message?: string };
    const code = cause.code ?? "";
    const host = apiHost(this.registry);
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS/i.test(code)) {
      return new SideloadError(
        "REGISTRY_UNTRUSTED_CA",
        `${this.registry}: its TLS certificate is not trusted here (${code})`,
        {
          hint: "pass --registry-ca FILE with the CA that signed the registry's certificate (it is also installed on the proxies)",
          exitStatus: 1,
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
    return new SideloadError(
      "REGISTRY_UNREACHABLE",
      `${this.registry}: cannot reach it from this machine: ${message}`,
      {
        hint: "check the name, port, DNS and proxies of this machine's network; the cloud proxies may still reach it",
        exitStatus: 1,
      },
    );
  }

  private get(url: string, headers: Record<string, string>) {
    return this.request(url, { method: "GET", headers: { accept, ...headers } });
  }

  private request(url: string, init: HttpRequest): Promise<HttpAnswer> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 15_000);
    const signal = this.options.signal ? AbortSignal.any([this.options.signal, timeout]) : timeout;
    return httpsExchange(url, init, this.agent, signal);
  }
}

/** The answer a token service's refusal stands for. */
const refused: HttpAnswer = {
  status: 401,
  ok: false,
  header: () => undefined,
  bytes: () => Promise.resolve(Buffer.alloc(0)),
  discard: () => undefined,
};

function basic(auth: RegistryAuth): string {
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`;
}
