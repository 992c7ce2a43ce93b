/**
 * A VCF Operations (formerly Aria / vRealize Operations) Suite API client: token auth, then the
 * three lists mp-sideload needs (collectors, collector groups, adapter instances of a kind).
 * Answers are untrusted: bounded in size and time, read strictly (answers.ts). The password and
 * the token never reach a message, an error or a debug line: only the outcome of each call does.
 */
import https from "node:https";
import { SideloadError, oneLine, quote } from "../errors.js";
import { registerSecret } from "../redact.js";
import { httpsExchange, type HttpAnswer, type HttpRequest } from "../registry/https-exchange.js";
import { secureContextFor, workstationCas } from "../registry/registry-client.js";
import {
  parseAdapterInstances,
  parseCollectorGroups,
  parseCollectors,
  parseAdapterKinds,
  parseToken,
  type OpsAdapterInstance,
  type OpsCollector,
  type OpsCollectorGroup,
} from "./answers.js";

/** How to reach one VCF Operations and log in to it. */
export interface OpsConnection {
  /** `https://ops.example.com` (a trailing `/suite-api` is accepted). */
  url: string;
  user: string;
  password: string;
  /** Ops auth source name; undefined: the local users. */
  authSource?: string | undefined;
  /** Extra PEM CAs (--ops-ca), besides the system's and NODE_EXTRA_CA_CERTS. */
  ca?: string | undefined;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal | undefined;
  /** Per request; default 30 s. */
  timeoutMs?: number | undefined;
  /** Per answer; default 16 MiB. */
  maxBytes?: number | undefined;
  /** Debug lines (never a secret). */
  onDebug?: ((message: string) => void) | undefined;
}

/** The token schemes: VCF Operations 9 takes `OpsToken`, older releases only `vRealizeOpsToken`. */
const schemes = ["OpsToken", "vRealizeOpsToken"] as const;
type Scheme = (typeof schemes)[number];

/** Check and normalise `--ops URL`: https only, no credentials or query in it. */
export function parseOpsUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(/^[a-z]+:\/\//i.test(text) ? text : `https://${text}`);
  } catch {
    throw new SideloadError("USAGE", `--ops ${quote(text)} is not a URL`, {
      hint: "e.g. --ops https://ops.example.com",
    });
  }
  if (url.protocol !== "https:" || url.username || url.password || url.search || url.hash) {
    throw new SideloadError(
      "USAGE",
      `--ops ${quote(text)}: give an https:// URL without user, query or fragment`,
      {
        hint: "e.g. --ops https://ops.example.com; credentials come from MP_SIDELOAD_OPS_USER/PASSWORD or a prompt",
      },
    );
  }
  url.pathname = url.pathname.replace(/\/+$/, "").replace(/\/suite-api$/, "");
  return url;
}

/** A logged-in session with one VCF Operations; `close()` releases the token. */
export class SuiteApiClient {
  private scheme: Scheme = "OpsToken";

  private constructor(
    private readonly base: string,
    private readonly agent: https.Agent,
    private readonly options: OpsConnection,
    private token: string | undefined,
  ) {}

  /** Log in (token acquire); OPS_UNAUTHORIZED when the credentials are refused. */
  static async open(options: OpsConnection): Promise<SuiteApiClient> {
    const url = parseOpsUrl(options.url);
    const agent = opsAgent(options);
    const client = new SuiteApiClient(
      `${url.origin}${url.pathname.replace(/\/+$/, "")}/suite-api/api`,
      agent,
      options,
      undefined,
    );
    try {
      await client.acquire();
      return client;
    } catch (error) {
      agent.destroy();
      throw error;
    }
  }

  /** Every collector (analytics nodes' and cloud proxies). */
  async collectors(): Promise<OpsCollector[]> {
    return parseCollectors(await this.getJson("/collectors", "collectors"));
  }

  async collectorGroups(): Promise<OpsCollectorGroup[]> {
    return parseCollectorGroups(await this.getJson("/collectorgroups", "collector groups"));
  }

  /** The instances of one adapter kind (none: an empty list; a 404 means none as well). */
  async adapterInstances(kind: string): Promise<OpsAdapterInstance[]> {
    const path = `/adapters?adapterKindKey=${encodeURIComponent(kind)}`;
    const instances = parseAdapterInstances(await this.getJson(path, `adapter instances of ${kind}`, true));
    // A server that ignores the filter must not turn other kinds' instances into targets.
    return instances.filter((i) => i.kind === kind);
  }

  /**
   * The adapter kinds VCF Operations knows (`GET /api/adapterkinds` → `{"adapter-kind":[{"key"}]}`,
   * as PowerValidatedSolutions' Get-vROPSAdapterKind reads it): after an install, the pack's.
   */
  async adapterKinds(): Promise<string[]> {
    return parseAdapterKinds(await this.getJson("/adapterkinds", "adapter kinds"));
  }

  /** Release the token (best effort: it expires anyway) and close the connections. */
  async close(): Promise<void> {
    const token = this.token;
    this.token = undefined;
    try {
      if (token !== undefined) {
        const answer = await this.send("/auth/token/release", {
          method: "POST",
          headers: { accept: "application/json", authorization: `${this.scheme} ${token}` },
        });
        answer.discard();
        this.debug(`POST /auth/token/release → ${answer.status}`);
      }
    } catch (error) {
      this.debug(`token release failed: ${oneLine((error as Error).message, 200)}`);
    } finally {
      this.agent.destroy();
    }
  }

  private async acquire(): Promise<void> {
    const body = JSON.stringify({
      username: this.options.user,
      password: this.options.password,
      ...(this.options.authSource ? { authSource: this.options.authSource } : {}),
    });
    const answer = await this.send("/auth/token/acquire", {
      method: "POST",
      headers: { accept: "application/json", "content-type": "application/json" },
      body,
    });
    this.debug(`POST /auth/token/acquire → ${answer.status}`);
    if (answer.status === 401 || answer.status === 400 || answer.status === 403) {
      answer.discard();
      const source = this.options.authSource
        ? `auth source ${quote(this.options.authSource)}`
        : "the local users";
      throw new SideloadError(
        "OPS_UNAUTHORIZED",
        `${this.where()}: the user ${quote(this.options.user)} was refused (HTTP ${answer.status}, ${source})`,
        {
          hint: "check MP_SIDELOAD_OPS_USER / --ops-user, the password, and --ops-auth-source (an LDAP or vIDM source has a name of its own)",
        },
      );
    }
    if (!answer.ok) throw this.failure(answer, "the token service");
    this.token = parseToken(await this.json(answer, "token"));
    registerSecret(this.token);
  }

  /** GET a list; one retry with the other token scheme on a 401, which is then kept. */
  private async getJson(path: string, what: string, notFoundIsEmpty = false): Promise<unknown> {
    let answer = await this.get(path);
    if (answer.status === 401) {
      answer.discard();
      const other = schemes.find((s) => s !== this.scheme) ?? "OpsToken";
      this.debug(`GET ${path} → 401 with ${this.scheme}; trying ${other}`);
      this.scheme = other;
      answer = await this.get(path);
    }
    this.debug(`GET ${path} → ${answer.status} (${this.scheme})`);
    if (answer.status === 404 && notFoundIsEmpty) {
      answer.discard();
      return {};
    }
    if (!answer.ok) throw this.failure(answer, what);
    return this.json(answer, what);
  }

  private get(path: string): Promise<HttpAnswer> {
    return this.send(path, {
      method: "GET",
      headers: { accept: "application/json", authorization: `${this.scheme} ${this.token ?? ""}` },
    });
  }

  private async json(answer: HttpAnswer, what: string): Promise<unknown> {
    const type = answer.header("content-type") ?? "";
    const bytes = await answer.bytes().catch((error: unknown) => {
      const message = (error as Error).message;
      throw /larger than/.test(message)
        ? new SideloadError("OPS_INVALID", `${this.where()}: the ${what} answer is ${message}`, {
            hint: "that is far more than a deployment lists: is the URL a VCF Operations node?",
          })
        : this.networkError(error, what);
    });
    try {
      return JSON.parse(bytes.toString("utf8")) as unknown;
    } catch {
      throw new SideloadError(
        "OPS_INVALID",
        `${this.where()}: the ${what} answer is not JSON (${quote(type || "no content type")})`,
        {
          hint: "is the URL a VCF Operations node? a proxy or load balancer may be answering instead",
        },
      );
    }
  }

  private failure(answer: HttpAnswer, what: string): SideloadError {
    answer.discard();
    const status = answer.status;
    if (status === 401)
      return new SideloadError(
        "OPS_UNAUTHORIZED",
        `${this.where()}: the session token was refused for ${what} (HTTP 401)`,
        {
          hint: "the token expired or this release takes neither OpsToken nor vRealizeOpsToken: run again, with --debug",
        },
      );
    if (status >= 300 && status < 400)
      return new SideloadError(
        "OPS_API_FAILED",
        `${this.where()}: ${what} redirected (HTTP ${status}) to ${quote(answer.header("location") ?? "?")}`,
        {
          hint: "give --ops the address VCF Operations answers on itself: mp-sideload does not follow redirects with credentials",
        },
      );
    if (status === 403)
      return new SideloadError(
        "OPS_FORBIDDEN",
        `${this.where()}: the user ${quote(this.options.user)} may not read ${what} (HTTP 403)`,
        {
          hint: "give the user a role that can read collectors, collector groups and adapter instances (e.g. ReadOnly)",
        },
      );
    if (status === 404)
      return new SideloadError(
        "OPS_API_FAILED",
        `${this.where()}: HTTP 404 for ${what}: no Suite API at this address`,
        {
          hint: "give the address of a VCF Operations node (https://HOST, without a path)",
        },
      );
    return new SideloadError("OPS_API_FAILED", `${this.where()}: ${what} failed (HTTP ${status})`, {
      hint: "VCF Operations is failing: check its status, try again later",
    });
  }

  private async send(path: string, init: HttpRequest): Promise<HttpAnswer> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 30_000);
    const signal = this.options.signal ? AbortSignal.any([this.options.signal, timeout]) : timeout;
    try {
      return await httpsExchange(
        `${this.base}${path}`,
        init,
        this.agent,
        signal,
        this.options.maxBytes ?? 16 * 1024 * 1024,
        // The acquire request carries the password, and every other one the token: never re-sent elsewhere.
        false,
      );
    } catch (error) {
      throw this.networkError(error, path);
    }
  }

  /** Tell DNS, refused, timeout and TLS trust apart. */
  private networkError(error: unknown, what: string): SideloadError {
    return opsNetworkError(error, this.base, this.options, what);
  }

  private where(): string {
    return `VCF Operations ${new URL(this.base).host}`;
  }

  private debug(message: string): void {
    this.options.onDebug?.(`ops: ${message}`);
  }
}

/** The HTTPS agent of one VCF Operations: the system's CAs, NODE_EXTRA_CA_CERTS and --ops-ca. */
export function opsAgent(options: Pick<OpsConnection, "env" | "ca">): https.Agent {
  return new https.Agent({
    keepAlive: true,
    secureContext: secureContextFor([...workstationCas(options.env), ...(options.ca ? [options.ca] : [])]),
  });
}

/**
 * A request to VCF Operations (`base`, the Suite API's or CaSA's) that did not get an answer:
 * DNS, refused, timeout and TLS trust told apart (OPS_UNREACHABLE, OPS_UNTRUSTED_CA), or
 * INTERRUPTED when the run's signal ended it.
 */
export function opsNetworkError(
  error: unknown,
  base: string,
  options: Pick<OpsConnection, "signal" | "timeoutMs">,
  what: string,
): SideloadError {
  if (error instanceof SideloadError) return error;
  const where = `VCF Operations ${new URL(base).host}`;
  if (options.signal?.aborted) return new SideloadError("INTERRUPTED", `${where}: interrupted`);
  const cause = ((error as { cause?: unknown }).cause ?? error) as { code?: string; message?: string };
  const code = cause.code ?? "";
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS/i.test(code)) {
    return new SideloadError(
      "OPS_UNTRUSTED_CA",
      `${where}: its TLS certificate is not trusted here (${code})`,
      {
        hint: "pass --ops-ca FILE with the PEM of the CA that signed VCF Operations' certificate (or set NODE_EXTRA_CA_CERTS)",
      },
    );
  }
  const host = new URL(base).hostname;
  const why: Record<string, string> = {
    ENOTFOUND: `the name ${host} is not found (DNS)`,
    EAI_AGAIN: `the name ${host} could not be looked up (DNS)`,
    ECONNREFUSED: "connection refused (nothing listens on that port)",
    ECONNRESET: "connection reset",
    EHOSTUNREACH: "host unreachable",
    ENETUNREACH: "network unreachable",
    ETIMEDOUT: "connection timed out",
    EPROTO: "not TLS (is it plain HTTP?)",
  };
  const name = (error as { name?: string }).name;
  const message =
    why[code] ??
    (name === "TimeoutError" || name === "AbortError"
      ? `no answer within ${Math.round((options.timeoutMs ?? 30_000) / 1000)} s (timeout)`
      : oneLine(cause.message ?? String(error), 200));
  return new SideloadError("OPS_UNREACHABLE", `${where}: cannot reach it for ${what}: ${message}`, {
    hint: "check the URL, DNS and the network path to VCF Operations; a slow node may need --ops-timeout SECONDS",
  });
}
