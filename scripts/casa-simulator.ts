/**
 * CaSA (`/casa/upgrade/cluster/pak/…`) in the VCF Operations simulator: upload (multipart, the
 * pak in field `contents`, `pak_handling_advice` in the query or the form), install, status and
 * current activity, as PowerValidatedSolutions and vropscli call them. HTTP Basic auth with the
 * scenario's admin. The states move over time (CANDIDATE → INSTALL_IN_PROGRESS → COMPLETED, or a
 * failure state with its words); after COMPLETED the pak's adapter kinds are known to the Suite
 * API (`adapterkinds`). A pak that is not a zip is refused; so is, without CLOBBER, a pak
 * uploaded but not installed (`upgrade.pak.history_present`) or installed at the same version
 * (`upgrade.pak.upload_version_older_or_same`).
 *
 * Switches the tests set at run time: `POST /_sim/casa/<instance>` with a JSON SimCasaSwitches;
 * `GET /_sim/casa/<instance>` gives what the simulator saw (uploads, installs, their options).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import yauzl from "yauzl";

/** Faults a test turns on for one simulated deployment. */
export interface SimCasaSwitches {
  /** Answer every CaSA request with this status (401: bad credentials; 403: not an admin). */
  status?: number | null;
  /** Another pak activity runs for this long from now. */
  busyMs?: number;
  /** The next install ends in this state with these words instead of COMPLETED. */
  failWith?: { state: string; words: string } | null;
  /** Refuse the next STANDARD upload with this key, whatever was uploaded before. */
  refuseWith?: string | null;
  /** How long an install stays CANDIDATE, then in progress (default 600 ms, 1500 ms). */
  candidateMs?: number;
  progressMs?: number;
  /** Forget every upload, install and installed pak. */
  reset?: boolean;
}

/** What the simulator saw, for the tests. */
export interface SimCasaSeen {
  uploads: {
    advice: string | null;
    adviceIn: string[];
    filename: string | null;
    bytes: number;
    pakId: string | null;
    refused: string | null;
  }[];
  installs: { pakId: string; forceContentUpdate: unknown }[];
  installed: string[];
  kinds: string[];
}

interface SimPak {
  id: string;
  name: string;
  version: string;
  kinds: string[];
  startedAt?: number;
  fail?: { state: string; words: string } | undefined;
  ended?: boolean;
}

interface CasaState {
  switches: SimCasaSwitches;
  busyUntil: number;
  paks: Map<string, SimPak>;
  /** name@version of the paks installed. */
  installed: Set<string>;
  kinds: Set<string>;
  seen: SimCasaSeen;
}

const maxUpload = 256 * 1024 * 1024;

/** CaSA for every simulated deployment, by instance name. */
export class CasaSimulator {
  private readonly states = new Map<string, CasaState>();

  constructor(
    private readonly admin: { user: string; password: () => string },
    private readonly log?: (line: string) => void,
  ) {}

  /** The adapter kinds installed through CaSA on `instance` (for the Suite API's adapterkinds). */
  installedKinds(instance: string): string[] {
    return [...(this.states.get(instance)?.kinds ?? [])];
  }

  /** `POST|GET /_sim/casa/<instance>`. */
  async control(instance: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const state = this.stateOf(instance);
    if (req.method === "POST") {
      const switches = JSON.parse((await readAll(req, 65536)).toString("utf8") || "{}") as SimCasaSwitches;
      if (switches.reset) {
        state.paks.clear();
        state.installed.clear();
        state.kinds.clear();
        state.seen = { uploads: [], installs: [], installed: [], kinds: [] };
        state.switches = {};
        state.busyUntil = 0;
      }
      if (switches.busyMs !== undefined) state.busyUntil = Date.now() + switches.busyMs;
      state.switches = { ...state.switches, ...switches };
    }
    send(res, 200, { ...state.seen, installed: [...state.installed], kinds: [...state.kinds] });
  }

  /** A request under `/casa/upgrade/cluster/pak` of `instance`. */
  async handle(
    instance: string,
    path: string,
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
  ): Promise<void> {
    const state = this.stateOf(instance);
    const answer = (code: number, body: unknown) => {
      this.log?.(`casa ${instance} ${req.method} ${path} ${code}`);
      send(res, code, body);
    };
    if (!this.authorized(req)) {
      req.resume();
      return answer(401, {
        error_message: "Authentication failed",
        error_message_key: "authentication.failed",
      });
    }
    if (state.switches.status) {
      req.resume();
      return answer(state.switches.status, {
        error_message: "Access denied: the user is not an administrator",
      });
    }
    if (req.method === "POST" && path === "/reserved/operation/upload")
      return this.upload(state, req, query, answer);
    const install = /^\/([^/]+)\/operation\/install$/.exec(path);
    if (req.method === "POST" && install?.[1]) return this.install(state, install[1], req, answer);
    req.resume();
    const status = /^\/([^/]+)\/status$/.exec(path);
    if (req.method === "GET" && status?.[1]) {
      const pak = state.paks.get(status[1]);
      if (!pak) return answer(404, { error_message: `Could not find file for PAK ID ${status[1]}` });
      return answer(200, { pak_id: pak.id, ...this.statusOf(state, pak) });
    }
    if (req.method === "GET" && path === "/reserved/current_activity")
      return answer(200, this.activity(state));
    return answer(404, { error_message: "not found" });
  }

  private stateOf(instance: string): CasaState {
    let state = this.states.get(instance);
    if (!state) {
      state = {
        switches: {},
        busyUntil: 0,
        paks: new Map(),
        installed: new Set(),
        kinds: new Set(),
        seen: { uploads: [], installs: [], installed: [], kinds: [] },
      };
      this.states.set(instance, state);
    }
    return state;
  }

  private authorized(req: IncomingMessage): boolean {
    const [scheme, value = ""] = (req.headers.authorization ?? "").split(" ");
    if (scheme !== "Basic") return false;
    return Buffer.from(value, "base64").toString("utf8") === `${this.admin.user}:${this.admin.password()}`;
  }

  private async upload(
    state: CasaState,
    req: IncomingMessage,
    query: URLSearchParams,
    answer: (code: number, body: unknown) => void,
  ): Promise<void> {
    const body = await readAll(req, maxUpload);
    const fields = parseMultipart(req.headers["content-type"] ?? "", body);
    const contents = fields.find((f) => f.name === "contents");
    const formAdvice = fields.find((f) => f.name === "pak_handling_advice")?.data.toString("utf8") ?? null;
    const advice = query.get("pak_handling_advice") ?? formAdvice;
    const row: SimCasaSeen["uploads"][number] = {
      advice,
      adviceIn: [
        ...(query.has("pak_handling_advice") ? ["query"] : []),
        ...(formAdvice === null ? [] : ["form"]),
      ],
      filename: contents?.filename ?? null,
      bytes: contents?.data.length ?? 0,
      pakId: null,
      refused: null,
    };
    state.seen.uploads.push(row);
    const refuse = (key: string, message: string) => {
      row.refused = key;
      answer(500, { error_message_key: key, error_message: message, error_arguments: [] });
    };
    if (!contents) return refuse("upgrade.pak.upload_missing", "No pak file in the request (field contents)");
    const manifest = await readManifest(contents.data);
    if (manifest === undefined)
      return refuse("upgrade.pak.not_a_pak", "The uploaded file is not a valid PAK file");
    const id = `${manifest.name}-${manifest.version.replace(/\D/g, "")}`;
    const clobber = advice === "CLOBBER";
    if (!clobber && state.switches.refuseWith) {
      const key = state.switches.refuseWith;
      state.switches.refuseWith = null;
      return refuse(key, `Refused (${key})`);
    }
    if (!clobber && state.installed.has(`${manifest.name}@${manifest.version}`))
      return refuse(
        "upgrade.pak.upload_version_older_or_same",
        `${manifest.name} ${manifest.version} is already installed`,
      );
    const earlier = state.paks.get(id);
    if (!clobber && earlier && !earlier.ended)
      return refuse("upgrade.pak.history_present", `${id} was uploaded before and is not installed`);
    state.paks.set(id, { id, name: manifest.name, version: manifest.version, kinds: manifest.kinds });
    row.pakId = id;
    answer(200, { pak_id: id, version: manifest.version, name: manifest.name });
  }

  private async install(
    state: CasaState,
    id: string,
    req: IncomingMessage,
    answer: (code: number, body: unknown) => void,
  ): Promise<void> {
    const text = (await readAll(req, 65536)).toString("utf8");
    let body: Record<string, unknown> = {};
    try {
      body = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      return answer(400, { error_message: "the body is not JSON" });
    }
    const pak = state.paks.get(id);
    if (!pak)
      return answer(404, {
        error_message: "not found",
        error_arguments: [`Could not find file for PAK ID ${id}`],
      });
    state.seen.installs.push({ pakId: id, forceContentUpdate: body.force_content_update });
    pak.startedAt = Date.now();
    pak.ended = false;
    pak.fail = state.switches.failWith ?? undefined;
    state.switches.failWith = null;
    answer(200, {});
  }

  private statusOf(
    state: CasaState,
    pak: SimPak,
  ): { cluster_pak_install_status: string; error_message?: string } {
    if (pak.startedAt === undefined) return { cluster_pak_install_status: "CANDIDATE" };
    const age = Date.now() - pak.startedAt;
    const candidate = state.switches.candidateMs ?? 600;
    if (age < candidate) return { cluster_pak_install_status: "CANDIDATE" };
    if (age < candidate + (state.switches.progressMs ?? 1500))
      return { cluster_pak_install_status: "INSTALL_IN_PROGRESS" };
    if (!pak.ended) {
      pak.ended = true;
      if (!pak.fail) {
        state.installed.add(`${pak.name}@${pak.version}`);
        for (const kind of pak.kinds) state.kinds.add(kind);
      }
    }
    return pak.fail
      ? { cluster_pak_install_status: pak.fail.state, error_message: pak.fail.words }
      : { cluster_pak_install_status: "COMPLETED" };
  }

  private activity(state: CasaState): unknown {
    if (Date.now() < state.busyUntil)
      return { current_pak_activity: { pak_id: "OtherVendorPack-900", status: "INSTALL_IN_PROGRESS" } };
    for (const pak of state.paks.values()) {
      if (pak.startedAt === undefined) continue;
      const status = this.statusOf(state, pak);
      if (!pak.ended)
        return { current_pak_activity: { pak_id: pak.id, status: status.cluster_pak_install_status } };
    }
    return { current_pak_activity: { pak_id: null } };
  }
}

interface Part {
  name: string | null;
  filename: string | null;
  data: Buffer;
}

/** multipart/form-data, as a server splits it: by the boundary of the content type. */
function parseMultipart(contentType: string, body: Buffer): Part[] {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const mark = boundary?.[1] ?? boundary?.[2];
  if (!/^multipart\/form-data/i.test(contentType) || mark === undefined) return [];
  const delimiter = Buffer.from(`--${mark}`);
  const parts: Part[] = [];
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === "--") break;
    const next = body.indexOf(delimiter, start);
    if (next === -1) break;
    const part = body.subarray(start + 2, next - 2); // after CRLF, before CRLF
    const split = part.indexOf("\r\n\r\n");
    if (split !== -1) {
      const headers = part.subarray(0, split).toString("utf8");
      parts.push({
        name: /name="([^"]*)"/i.exec(headers)?.[1] ?? null,
        filename: /filename="([^"]*)"/i.exec(headers)?.[1] ?? null,
        data: part.subarray(split + 4),
      });
    }
    at = next;
  }
  return parts;
}

/** The pak's manifest.txt (name, version, adapter_kinds), or undefined when it is not a pak. */
function readManifest(data: Buffer): Promise<{ name: string; version: string; kinds: string[] } | undefined> {
  return new Promise((resolve) => {
    yauzl.fromBuffer(data, { lazyEntries: true }, (error, zip) => {
      if (error || !zip) return resolve(undefined);
      zip.on("entry", (entry: yauzl.Entry) => {
        if (entry.fileName !== "manifest.txt") return zip.readEntry();
        zip.openReadStream(entry, (err, stream) => {
          if (err || !stream) return resolve(undefined);
          const chunks: Buffer[] = [];
          stream.on("data", (c: Buffer) => chunks.push(c));
          stream.on("end", () => {
            zip.close();
            try {
              const m = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
              const kinds = Array.isArray(m.adapter_kinds)
                ? m.adapter_kinds.filter((k) => typeof k === "string")
                : [];
              resolve({
                name: typeof m.name === "string" ? m.name : "pak",
                version: typeof m.version === "string" ? m.version : "0",
                kinds,
              });
            } catch {
              resolve(undefined);
            }
          });
        });
      });
      zip.on("end", () => resolve(undefined));
      zip.on("error", () => resolve(undefined));
      zip.readEntry();
    });
  });
}

function readAll(req: IncomingMessage, cap: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > cap) req.destroy(new Error("too large"));
      else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function send(res: ServerResponse, code: number, payload: unknown): void {
  const text = JSON.stringify(payload);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
