/**
 * The lab's second server for blob redirects (`scripts/lab.sh redirect up`): what an object store
 * (S3, a CDN) is to ECR's and Docker Hub's blob redirects. A static HTTPS file server over one
 * folder (the registry's storage, whose blob files the redirecting registry's URLs name),
 * read-only, and without auth: a presigned URL needs none, so a client that sends its registry
 * credentials here has leaked them. Each request is logged as one JSON line: method, path,
 * status, bytes sent, and the scheme of any Authorization header (never its value), for the tests.
 *
 *   node --import tsx scripts/blob-server.ts --root DIR --host ADDRESS --port N --cert F --key F --log F
 */
import { appendFileSync, createReadStream, readFileSync, realpathSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import https from "node:https";
import { join, sep } from "node:path";
import { parseArgs } from "node:util";

/** One request as the log records it. */
export interface BlobServerLogLine {
  time: string;
  method: string;
  path: string;
  status: number;
  bytes: number;
  /** The Authorization header's scheme (`Basic`, `Bearer`), or null when none came. */
  authorization: string | null;
  userAgent: string | null;
}

const { values } = parseArgs({
  options: {
    root: { type: "string" },
    host: { type: "string", default: "::1" },
    port: { type: "string" },
    cert: { type: "string" },
    key: { type: "string" },
    log: { type: "string" },
  },
});
const { root, port, cert, key, log } = values;
if (!root || !port || !cert || !key || !log) {
  console.error("usage: blob-server.ts --root DIR --host ADDRESS --port N --cert F --key F --log F");
  process.exit(2);
}
const rootDir = realpathSync(root);

/** The regular file under the root that `url` names, or undefined (outside it, absent, not a file). */
function fileOf(url: string): { path: string; size: number } | undefined {
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(url, "https://blobs").pathname);
  } catch {
    return undefined;
  }
  if (pathname.includes("\0") || pathname.split("/").includes("..")) return undefined;
  try {
    const path = realpathSync(join(rootDir, pathname));
    const stats = statSync(path);
    return path.startsWith(rootDir + sep) && stats.isFile() ? { path, size: stats.size } : undefined;
  } catch {
    return undefined;
  }
}

function serve(request: IncomingMessage, response: ServerResponse): void {
  let bytes = 0;
  response.once("close", () => {
    const authorization = request.headers.authorization;
    const line: BlobServerLogLine = {
      time: new Date().toISOString(),
      method: request.method ?? "",
      path: request.url ?? "",
      status: response.statusCode,
      bytes,
      authorization: authorization === undefined ? null : (authorization.split(" ")[0] ?? ""),
      userAgent: request.headers["user-agent"] ?? null,
    };
    appendFileSync(log as string, `${JSON.stringify(line)}\n`);
  });
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.writeHead(405, { allow: "GET, HEAD" });
    return void response.end();
  }
  const file = fileOf(request.url ?? "/");
  if (file === undefined) {
    response.writeHead(404, { "content-type": "text/plain" });
    return void response.end("not found\n");
  }
  // `bytes=N-`: an engine resuming a layer asks for the rest.
  const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? "");
  const start = range === null ? 0 : Number(range[1]);
  if (start > file.size) {
    response.writeHead(416, { "content-range": `bytes */${file.size}` });
    return void response.end();
  }
  response.writeHead(range === null ? 200 : 206, {
    "content-type": "application/octet-stream",
    "content-length": file.size - start,
    "accept-ranges": "bytes",
    ...(range === null ? {} : { "content-range": `bytes ${start}-${file.size - 1}/${file.size}` }),
  });
  if (request.method === "HEAD" || file.size === start) return void response.end();
  const body = createReadStream(file.path, { start });
  body.on("data", (chunk) => (bytes += chunk.length));
  body.once("error", () => response.destroy());
  body.pipe(response);
}

const server = https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, serve);
server.listen(Number(port), values.host, () => {
  console.log(`blob server on ${values.host} port ${port}, serving ${rootDir}`);
});
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    server.close();
    server.closeAllConnections();
  });
}
