/**
 * The few Docker Engine API calls mp-sideload makes, over Node's own HTTP client and an agent
 * whose sockets are SSH channels. (dockerode served before; loading it took ~150 ms of every
 * run, twice a bare Node start, for five calls: measured in docs/benchmarks.md.)
 */
import http from "node:http";
import type { Readable } from "node:stream";
import { readCapped } from "../streams.js";

/** An answer of 4xx or 5xx: the engine's own message, and the status. */
export class EngineApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export interface EngineRequest {
  method: "GET" | "POST";
  /** Path and query, e.g. `/images/create?fromImage=…`; the caller encodes what it puts there. */
  path: string;
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
}

/** Send `request`; resolves with the response (status < 400) as a stream, else rejects with EngineApiError. */
export function engineRequest(agent: http.Agent, request: EngineRequest): Promise<http.IncomingMessage> {
  const body = request.body === undefined ? undefined : JSON.stringify(request.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        method: request.method,
        host: "docker",
        path: request.path,
        headers: {
          ...(body === undefined
            ? {}
            : { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(body)) }),
          ...request.headers,
        },
        ...(request.signal ? { signal: request.signal } : {}),
      },
      (response) => {
        const status = response.statusCode ?? 0;
        if (status < 400) return resolve(response);
        readBody(response, 64 * 1024).then(
          (text) => reject(new EngineApiError(status, messageIn(text))),
          (error: Error) => reject(error),
        );
      },
    );
    req.once("error", reject);
    req.end(body);
  });
}

/** `request`'s answer parsed as JSON. */
export async function engineJson<T>(agent: http.Agent, request: EngineRequest): Promise<T> {
  const response = await engineRequest(agent, request);
  const text = await readBody(response, 16 * 1024 * 1024);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`the engine answered ${request.path} with something that is not JSON`);
  }
}

/**
 * The header that carries registry credentials to `POST /images/create`: the JSON in base64's
 * URL alphabet *with* its padding (the engine decodes with Go's padded URLEncoding, and drops
 * credentials it cannot decode: an unpadded header pulls anonymously).
 */
export function registryAuthHeader(auth: object): string {
  return Buffer.from(JSON.stringify(auth)).toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
}

async function readBody(stream: Readable, maxBytes: number): Promise<string> {
  const tooLarge = () => new Error(`the engine's answer is larger than ${maxBytes} bytes`);
  return (await readCapped(stream, maxBytes, tooLarge)).toString("utf8");
}

/** The engine's error bodies are `{"message": "…"}`; anything else is shown as it came. */
function messageIn(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === "string") return parsed.message;
  } catch {
    // not JSON: the text itself
  }
  return text.trim() || "no message";
}
