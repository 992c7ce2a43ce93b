/**
 * VCF Operations' CaSA API (`/casa/upgrade/cluster/pak/…`), the one that uploads and installs
 * management packs, as VMware's PowerValidatedSolutions module and vropscli call it: HTTP Basic
 * auth with an admin account (CaSA takes no Suite API token), the pak streamed from disk as the
 * multipart field `contents`, then the install and its status, polled. It shares the Suite API
 * client's HTTPS agent (the same CAs, --ops-ca), its network errors and its credentials; the
 * password and the Basic header never reach a message. Answers are untrusted: bounded, read
 * strictly, and a server's own words are printed one line, escaped.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { Readable } from "node:stream";
import type https from "node:https";
import { setTimeout as delay } from "node:timers/promises";
import { SideloadError, oneLine, quote } from "../errors.js";
import { registerSecret } from "../redact.js";
import { httpsExchange, type HttpAnswer, type HttpRequest } from "../registry/https-exchange.js";
import { opsAgent, opsNetworkError, parseOpsUrl, type OpsConnection } from "./suite-api.js";
import { describe } from "./answers.js";

/** The install's state as CaSA reports it (`cluster_pak_install_status`), and its own words. */
export interface CasaStatus {
  /** `CANDIDATE`, an in-progress state, `COMPLETED`, or a failure state. */
  state: string;
  /** What the server says besides the state (messages, error keys), one line; undefined: nothing. */
  words?: string | undefined;
}

/** `reserved/current_activity`: which pak CaSA is busy with, if any. */
export interface CasaActivity {
  /** `current_pak_activity.pak_id`; null when no pak activity is in progress. */
  pakId: string | null;
  /** Its state when the server says it (`current_pak_activity.status` or similar). */
  state?: string | undefined;
}

/** What a failed CaSA call said: the HTTP status and the server's error key and words. */
interface CasaRefusal {
  status: number;
  key: string | undefined;
  words: string | undefined;
}

/** The refusals the callers know by key, each with its own code and next step. */
const knownRefusals: {
  key: string;
  code: "CASA_PAK_PENDING" | "CASA_PAK_NOT_NEWER";
  message: string;
  hint: string;
}[] = [
  {
    key: "upgrade.pak.history_present",
    code: "CASA_PAK_PENDING",
    message: "an earlier upload of this pak was never installed (upgrade.pak.history_present)",
    hint: "finish or cancel it in VCF Operations (Integrations > Repository), or run again with --force to replace that upload (CLOBBER)",
  },
  {
    key: "upgrade.pak.upload_version_older_or_same",
    code: "CASA_PAK_NOT_NEWER",
    message:
      "this version, or a newer one, of the pak is installed already (upgrade.pak.upload_version_older_or_same)",
    hint: "raise the pak's version, or, for a rebuild of the same version, run again with --force (CLOBBER, then force_content_update)",
  },
];

const answerCapBytes = 1024 * 1024;
const pakIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const statePattern = /^[A-Z][A-Z0-9_]{0,63}$/;

/** A CaSA session with one VCF Operations (no login: each request carries Basic auth). */
export class CasaClient {
  private readonly base: string;
  private readonly agent: https.Agent;
  private readonly authorization: string;

  constructor(private readonly options: OpsConnection) {
    const url = parseOpsUrl(options.url);
    this.base = `${url.origin}${url.pathname.replace(/\/+$/, "")}/casa/upgrade/cluster/pak`;
    this.agent = opsAgent(options);
    const basic = Buffer.from(`${options.user}:${options.password}`).toString("base64");
    // The header's base64 is not the password's own: register it, so that nothing prints it.
    registerSecret(basic);
    this.authorization = `Basic ${basic}`;
  }

  /**
   * The activity CaSA is busy with; also the check, before any upload, that the account may
   * install: a 401 or 403 is CASA_FORBIDDEN.
   */
  async currentActivity(): Promise<CasaActivity> {
    const body = object(
      await this.json("GET", "/reserved/current_activity", "its current activity"),
      "current activity",
    );
    const activity = body.current_pak_activity;
    if (activity === undefined || activity === null) return { pakId: null };
    const a = object(activity, "current_pak_activity");
    const pakId = a.pak_id === null || a.pak_id === undefined || a.pak_id === "" ? null : pakIdOf(a.pak_id);
    const state = [a.status, a.state, a.cluster_pak_install_status].find((v) => typeof v === "string");
    return { pakId, state: typeof state === "string" && statePattern.test(state) ? state : undefined };
  }

  /**
   * Upload `file` (streamed, never read whole) as the multipart field `contents`. `clobber`:
   * `pak_handling_advice=CLOBBER`, replacing an earlier upload of the same pak; else STANDARD.
   * PowerValidatedSolutions puts the advice in the query, vropscli in the form: both are sent.
   */
  async upload(file: string, clobber: boolean, signal?: AbortSignal): Promise<{ pakId: string }> {
    const advice = clobber ? "CLOBBER" : "STANDARD";
    const size = (await stat(file)).size;
    const boundary = `mp-sideload-${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
    const name = basename(file).replace(/[^A-Za-z0-9._ -]/g, "_");
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="pak_handling_advice"\r\n\r\n${advice}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="contents"; filename="${name}"\r\n` +
        "Content-Type: application/octet-stream\r\n\r\n",
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const upload = {
      length: head.length + size + tail.length,
      open: () => multipartBody(head, file, tail),
    };
    const answer = await this.send(
      `/reserved/operation/upload?pak_handling_advice=${advice}`,
      {
        method: "POST",
        headers: { accept: "application/json", "content-type": `multipart/form-data; boundary=${boundary}` },
        upload,
      },
      "the upload",
      signal,
    );
    if (!answer.ok) throw await this.refusal(answer, `uploading ${quote(basename(file))}`);
    const body = object(await this.read(answer, "upload"), "upload");
    return { pakId: pakIdOf(body.pak_id) };
  }

  /** Start installing an uploaded pak; `forceContentUpdate` as vropscli sends it (true with --force). */
  async install(pakId: string, forceContentUpdate: boolean): Promise<void> {
    const answer = await this.send(
      `/${pakIdOf(pakId)}/operation/install`,
      {
        method: "POST",
        headers: { accept: "application/json", "content-type": "application/json" },
        body: JSON.stringify({ force_content_update: forceContentUpdate }),
      },
      "the install",
    );
    if (!answer.ok) throw await this.refusal(answer, `installing pak ${quote(pakId)}`);
    answer.discard();
  }

  /** The install's state (`GET {pak_id}/status` → `cluster_pak_install_status`). */
  async status(pakId: string): Promise<CasaStatus> {
    const body = object(
      await this.json("GET", `/${pakIdOf(pakId)}/status`, "the install's status"),
      "status",
    );
    const state = body.cluster_pak_install_status;
    if (typeof state !== "string" || !statePattern.test(state))
      throw invalid("status", `cluster_pak_install_status ${describe(state)} is not a state`);
    return { state, words: wordsOf(body) };
  }

  /** Close the connections. */
  close(): void {
    this.agent.destroy();
  }

  /** Where the CaSA answers are, for messages. */
  where(): string {
    return `VCF Operations ${new URL(this.base).host}`;
  }

  private async json(method: "GET", path: string, what: string): Promise<unknown> {
    const answer = await this.send(path, { method, headers: { accept: "application/json" } }, what);
    if (!answer.ok) throw await this.refusal(answer, what);
    return this.read(answer, what);
  }

  private async read(answer: HttpAnswer, what: string): Promise<unknown> {
    const bytes = await answer.bytes().catch((error: unknown) => {
      throw opsNetworkError(error, this.base, this.options, what);
    });
    try {
      return JSON.parse(bytes.toString("utf8")) as unknown;
    } catch {
      throw invalid(
        what,
        `the answer is not JSON (${quote(answer.header("content-type") ?? "no content type")})`,
      );
    }
  }

  /** A refusal in the server's words: 401/403 first (no admin), then the keys the callers know. */
  private async refusal(answer: HttpAnswer, what: string): Promise<SideloadError> {
    const said = await this.refusalOf(answer);
    if (said.status === 401 || said.status === 403)
      return new SideloadError(
        "CASA_FORBIDDEN",
        `${this.where()}: ${what}: the user ${quote(this.options.user)} was refused by CaSA (HTTP ${said.status}): installing needs an admin account`,
        {
          hint: "give the credentials of VCF Operations' local admin account (MP_SIDELOAD_OPS_USER=admin): CaSA takes HTTP Basic auth of an administrator, not a Suite API role",
        },
      );
    if (said.status >= 300 && said.status < 400)
      return new SideloadError("CASA_REFUSED", `${this.where()}: ${what}: redirected (HTTP ${said.status})`, {
        hint: "give --ops the address VCF Operations answers on itself: mp-sideload does not follow redirects with credentials",
      });
    const known = knownRefusals.find((r) => said.key?.includes(r.key));
    if (known)
      return new SideloadError(known.code, `${this.where()}: ${what}: ${known.message}`, {
        hint: known.hint,
      });
    const words = said.words ?? said.key ?? "no reason given";
    return new SideloadError(
      "CASA_REFUSED",
      `${this.where()}: ${what}: refused (HTTP ${said.status}): ${words}`,
      {
        hint:
          said.status === 404
            ? "no CaSA API at this address: give the address of a VCF Operations node (https://HOST)"
            : "the words are VCF Operations' own: see its admin UI (Integrations > Repository) and its logs",
      },
    );
  }

  private async refusalOf(answer: HttpAnswer): Promise<CasaRefusal> {
    const bytes = await answer.bytes().catch(() => Buffer.alloc(0));
    let body: unknown;
    try {
      body = JSON.parse(bytes.toString("utf8")) as unknown;
    } catch {
      body = undefined;
    }
    const record = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
    const key =
      typeof record.error_message_key === "string" ? oneLine(record.error_message_key, 200) : undefined;
    return { status: answer.status, key, words: wordsOf(record) };
  }

  private async send(
    path: string,
    init: HttpRequest,
    what: string,
    signal?: AbortSignal,
  ): Promise<HttpAnswer> {
    // An upload may take long (vropscli warns of 20 minutes): only the run's signal bounds it.
    const bounds = [
      ...(this.options.signal ? [this.options.signal] : []),
      ...(signal ? [signal] : []),
      ...(init.upload === undefined ? [AbortSignal.timeout(this.options.timeoutMs ?? 30_000)] : []),
    ];
    try {
      const answer = await httpsExchange(
        `${this.base}${path}`,
        { ...init, headers: { ...init.headers, authorization: this.authorization } },
        this.agent,
        AbortSignal.any(bounds),
        answerCapBytes,
        // Every request carries the password (Basic): never re-sent elsewhere.
        false,
      );
      this.options.onDebug?.(`casa: ${init.method} ${path} → ${answer.status}`);
      return answer;
    } catch (error) {
      if (signal?.aborted && !this.options.signal?.aborted)
        throw new SideloadError(
          "CASA_TIMEOUT",
          `${this.where()}: ${what} did not end within --install-timeout`,
          {
            hint: "a large pak on a slow link needs a longer --install-timeout SECONDS",
          },
        );
      throw opsNetworkError(error, this.base, this.options, `CaSA ${what}`);
    }
  }
}

/** The multipart body: the head, the pak's bytes read from disk as they are sent, the closing boundary. */
function multipartBody(head: Buffer, file: string, tail: Buffer): Readable {
  async function* parts(): AsyncGenerator<Buffer> {
    yield head;
    for await (const chunk of createReadStream(file)) yield chunk as Buffer;
    yield tail;
  }
  return Readable.from(parts(), { objectMode: false });
}

/** The server's own words in an answer: its message fields, one line, escaped, capped. */
function wordsOf(body: Record<string, unknown>): string | undefined {
  const texts: string[] = [];
  for (const key of ["error_message", "message", "status_message", "details", "error_arguments", "errors"]) {
    const value = body[key];
    const items = Array.isArray(value) ? value : [value];
    for (const item of items.slice(0, 5))
      if (typeof item === "string" && item.trim() !== "") texts.push(item);
  }
  return texts.length === 0 ? undefined : oneLine([...new Set(texts)].join("; "), 500);
}

function pakIdOf(value: unknown): string {
  if (typeof value !== "string" || !pakIdPattern.test(value))
    throw invalid("upload", `pak_id ${describe(value)} is not a pak id`);
  return value;
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw invalid(what, "the answer is not an object");
  return value as Record<string, unknown>;
}

function invalid(what: string, detail: string): SideloadError {
  return new SideloadError("OPS_INVALID", `VCF Operations CaSA ${what}: ${detail}`, {
    hint: "the answer is not what CaSA gives PowerValidatedSolutions and vropscli: is the URL a VCF Operations node? run again with --debug",
  });
}

/** The states the install passes through before it ends: CaSA's own, as the callers wait on them. */
export const pendingStates = new Set(["CANDIDATE"]);

/** How `waitForInstall` and `waitUntilIdle` poll. */
export interface CasaWait {
  /** Ends the wait with CASA_TIMEOUT (the install goes on in VCF Operations). */
  deadline: AbortSignal;
  /** Between polls; default 2 s. */
  intervalMs?: number | undefined;
  /** Ctrl-C: INTERRUPTED. */
  signal?: AbortSignal | undefined;
}

/**
 * Wait until no other pak activity runs (vropscli's `current_pak_activity.pak_id` null), bounded
 * by the deadline: CASA_BUSY then, naming the pak it is busy with.
 */
export async function waitUntilIdle(
  client: CasaClient,
  wait: CasaWait,
  onBusy: (activity: CasaActivity) => void,
): Promise<void> {
  for (;;) {
    const activity = await client.currentActivity();
    if (activity.pakId === null) return;
    if (wait.deadline.aborted)
      throw new SideloadError(
        "CASA_BUSY",
        `${client.where()}: another pak activity (${quote(activity.pakId)}${activity.state ? `, ${activity.state}` : ""}) did not end within --install-timeout`,
        {
          hint: "wait for it to end (VCF Operations > Integrations > Repository), then run again; or give a longer --install-timeout SECONDS",
        },
      );
    onBusy(activity);
    await pause(wait);
  }
}

/**
 * Poll the install of `pakId` to its end. CANDIDATE, and any state while current_activity still
 * names this pak, is in progress (PowerValidatedSolutions waits while CANDIDATE, vropscli while
 * the activity names a pak); COMPLETED is success; any other end state is returned as it is,
 * with the server's words, for the caller to report as a failure.
 */
export async function waitForInstall(
  client: CasaClient,
  pakId: string,
  wait: CasaWait,
  onState: (status: CasaStatus) => void,
): Promise<CasaStatus> {
  let last: string | undefined;
  for (;;) {
    const status = await client.status(pakId);
    if (status.state !== last) onState(status);
    last = status.state;
    if (status.state === "COMPLETED") return status;
    const pending = pendingStates.has(status.state) || (await client.currentActivity()).pakId === pakId;
    if (!pending) {
      // The activity may have ended between the two reads: the end state is the one read after it.
      const settled = await client.status(pakId);
      if (settled.state !== last) onState(settled);
      return settled;
    }
    if (wait.deadline.aborted)
      throw new SideloadError(
        "CASA_TIMEOUT",
        `${client.where()}: the install of ${quote(pakId)} is still ${status.state} after --install-timeout; it goes on in VCF Operations`,
        {
          hint: "watch it in VCF Operations (Integrations > Repository), or give a longer --install-timeout SECONDS",
        },
      );
    await pause(wait);
  }
}

async function pause(wait: CasaWait): Promise<void> {
  const signals = [wait.deadline, ...(wait.signal ? [wait.signal] : [])];
  await delay(wait.intervalMs ?? 2000, undefined, { signal: AbortSignal.any(signals) }).catch(
    () => undefined,
  );
  if (wait.signal?.aborted) throw new SideloadError("INTERRUPTED", "interrupted");
}
