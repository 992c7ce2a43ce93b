/**
 * One HTTPS request and its answer, over Node's own `https` (already loaded for the engine's
 * API; undici's ~100 files cost ~70 ms of every `pull` before this). Redirects are followed
 * like fetch does, within https only, and credentials never follow one to another origin.
 */
import https from "node:https";
import type { Readable } from "node:stream";
import { readCapped } from "../streams.js";

/** What the registry client reads of an answer. */
export interface HttpAnswer {
  status: number;
  ok: boolean;
  /** A header's value (the first, if repeated), or undefined. */
  header(name: string): string | undefined;
  /** The whole body, refused past `maxBytes`. */
  bytes(): Promise<Buffer>;
  /** Drop the body unread (the connection is not reused then). */
  discard(): void;
  /** The body as a stream, for the caller to read (or destroy); instead of `bytes()`. */
  stream(): Readable & { setTimeout?: (ms: number, onTimeout: () => void) => unknown };
}

export interface HttpRequest {
  method: "GET" | "HEAD" | "POST";
  headers: Record<string, string>;
  body?: string | undefined;
  /** The answer's body will be read as a stream: only the headers are under the time limit. */
  stream?: boolean | undefined;
  /** A request body streamed from `open()` (a pak upload), of exactly `length` bytes; never re-sent on a redirect. */
  upload?: { open: () => Readable; length: number } | undefined;
}

const redirects = new Set([301, 302, 303, 307, 308]);
const maxRedirects = 5;

/**
 * Send `init` to `url` through `agent`; answers for any status, rejects on network and TLS
 * errors. `followRedirects` false: a redirect is answered as it is (a request whose body holds
 * a password must not be re-sent elsewhere).
 */
export async function httpsExchange(
  url: string,
  init: HttpRequest,
  agent: https.Agent,
  signal: AbortSignal,
  maxBytes = 16 * 1024 * 1024,
  followRedirects = true,
): Promise<HttpAnswer> {
  let target = new URL(url);
  let request = init;
  for (let hop = 0; ; hop++) {
    let answer: HttpAnswer;
    try {
      answer = await once(target, request, agent, signal, maxBytes);
    } catch (error) {
      // Past a redirect the failure is the target's (a storage service, a CDN), not the registry's.
      if (hop > 0 && typeof error === "object" && error !== null)
        Object.assign(error, { redirectedTo: target.origin });
      throw error;
    }
    const location = answer.header("location");
    if (
      !followRedirects ||
      init.upload !== undefined ||
      !redirects.has(answer.status) ||
      location === undefined ||
      hop === maxRedirects
    )
      return answer;
    answer.discard();
    const next = new URL(location, target);
    if (next.protocol !== "https:") throw new Error(`redirected to ${next.protocol} (not HTTPS)`);
    const headers = { ...request.headers };
    if (next.origin !== target.origin) delete headers.authorization;
    request =
      answer.status === 303 || (answer.status !== 307 && answer.status !== 308 && request.method === "POST")
        ? { method: "GET", headers: withoutBodyHeaders(headers) }
        : { ...request, headers };
    target = next;
  }
}

function withoutBodyHeaders(headers: Record<string, string>): Record<string, string> {
  const { "content-type": _type, ...rest } = headers;
  return rest;
}

function once(
  url: URL,
  init: HttpRequest,
  agent: https.Agent,
  signal: AbortSignal,
  maxBytes: number,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: init.method,
        agent,
        signal,
        headers: {
          ...init.headers,
          ...(init.body === undefined ? {} : { "content-length": String(Buffer.byteLength(init.body)) }),
          ...(init.upload === undefined ? {} : { "content-length": String(init.upload.length) }),
        },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        let body: Promise<Buffer> | undefined;
        resolve({
          status,
          ok: status >= 200 && status < 300,
          header: (name) => {
            const value = res.headers[name.toLowerCase()];
            return Array.isArray(value) ? value[0] : value;
          },
          bytes: () =>
            (body ??= readCapped(
              res,
              maxBytes,
              () => new Error(`the answer is larger than ${maxBytes} bytes`),
            )),
          discard: () => {
            res.resume();
          },
          stream: () => res,
        });
      },
    );
    req.once("error", reject);
    if (init.upload === undefined) return void req.end(init.body);
    const body = init.upload.open();
    // A file that cannot be read ends the request: the server then sees a short body.
    body.once("error", (error) => req.destroy(error));
    body.pipe(req);
  });
}
