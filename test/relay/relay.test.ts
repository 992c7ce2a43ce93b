/**
 * The relay against an in-process HTTPS registry that speaks what the lab's registry does not: a
 * Bearer token service, a blob redirected to a second server (as ECR and Docker Hub do), a 429
 * with Retry-After, a blob whose bytes do not match its digest. The relay is handed plain TCP
 * connections here, as it is handed the SSH forward's channels in a run.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import https from "node:https";
import net, { type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdapterImage } from "../../src/pak/read-paks.js";
import type { SideloadError } from "../../src/errors.js";
import { Relay } from "../../src/relay/relay.js";
import { makeThrowawayCert } from "../../src/relay/throwaway-cert.js";

const sha = (data: Buffer | string) => `sha256:${createHash("sha256").update(data).digest("hex")}`;
const user = { username: "robot", password: "s3cret-relay" };
const tls = makeThrowawayCert(["localhost"]);

const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux" }));
const layer = randomBytes(3 * 1024 * 1024 + 17);
const redirected = randomBytes(700_000);
const limited = randomBytes(1000);
const corrupt = randomBytes(2000);
/** A blob redirected to a server that is gone (a storage service this machine cannot reach). */
const stranded = randomBytes(500);
const image = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: sha(config),
      size: config.length,
    },
    layers: [layer, redirected, limited, corrupt, stranded].map((l) => ({
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: sha(l),
      size: l.length,
    })),
  }),
);
const armImage = Buffer.from(JSON.stringify({ schemaVersion: 2, config: {}, layers: [] }));
const indexBytes = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [
      { digest: sha(armImage), size: armImage.length, platform: { os: "linux", architecture: "arm64" } },
      { digest: sha(image), size: image.length, platform: { os: "linux", architecture: "amd64" } },
    ],
  }),
);

/** What the registry and the redirect target saw. */
const seen: { path: string; authorization?: string | undefined; status: number }[] = [];
const elsewhere: { path: string; authorization?: string | undefined }[] = [];
let upstream: https.Server;
let other: https.Server;
let relayServer: net.Server;
let relay: Relay;
let registry: string;
let relayPort: number;
/** A port where nothing listens. */
let closedPort: number;

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}

function answer(res: ServerResponse, status: number, body: Buffer | string, type?: string) {
  res.writeHead(status, type === undefined ? {} : { "content-type": type });
  res.end(body);
}

function serveRegistry(req: IncomingMessage, res: ServerResponse) {
  const path = req.url ?? "";
  const authorization = req.headers.authorization;
  const reply = (status: number, body: Buffer | string = "", type?: string) => {
    seen.push({ path, authorization, status });
    answer(res, status, body, type);
  };
  if (path.startsWith("/token")) {
    const basic = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString("base64")}`;
    return authorization === basic ? reply(200, JSON.stringify({ token: "tok" })) : reply(401);
  }
  if (authorization !== "Bearer tok") {
    res.setHeader(
      "www-authenticate",
      `Bearer realm="https://${registry}/token",service="lab",scope="repository:mp/adapter:pull"`,
    );
    return reply(401);
  }
  const manifests = new Map([
    [sha(indexBytes), indexBytes],
    [sha(image), image],
    [sha(armImage), armImage],
  ]);
  const m = /^\/v2\/mp\/adapter\/manifests\/(.+)$/.exec(path);
  if (m) {
    const bytes = manifests.get(m[1] ?? "");
    if (!bytes) return reply(404);
    const type =
      bytes === indexBytes
        ? "application/vnd.oci.image.index.v1+json"
        : "application/vnd.oci.image.manifest.v1+json";
    return reply(200, bytes, type);
  }
  const b = /^\/v2\/mp\/adapter\/blobs\/(.+)$/.exec(path);
  const digest = b?.[1];
  if (digest === sha(redirected)) {
    res.setHeader("location", `https://localhost:${(other.address() as AddressInfo).port}/store/blob`);
    return reply(307);
  }
  if (digest === sha(stranded)) {
    res.setHeader("location", `https://127.0.0.1:${closedPort}/store/stranded?X-Amz-Signature=s1gn3d`);
    return reply(307);
  }
  if (digest === sha(limited)) {
    res.setHeader("retry-after", "120");
    return reply(429);
  }
  if (digest === sha(corrupt)) return reply(200, randomBytes(corrupt.length));
  const blob = [config, layer].find((x) => sha(x) === digest);
  return blob ? reply(200, blob) : reply(404);
}

beforeAll(async () => {
  upstream = https.createServer({ key: tls.key, cert: tls.cert }, serveRegistry);
  other = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    elsewhere.push({ path: req.url ?? "", authorization: req.headers.authorization });
    answer(res, 200, redirected);
  });
  registry = `localhost:${await listen(upstream)}`;
  await listen(other);
  const closed = net.createServer();
  closedPort = await listen(closed);
  await new Promise((resolve) => closed.close(resolve));
  relay = await Relay.start({
    images: [
      {
        registry,
        repository: "/mp/adapter",
        digest: sha(indexBytes),
        reference: `${registry}/mp/adapter@${sha(indexBytes)}`,
      },
    ] as AdapterImage[],
    credentials: () => Promise.resolve({ ...user, serveraddress: registry }),
    client: { env: {}, ca: tls.cert, certsDir: "/nonexistent", retries: 1, waitBudgetMs: 10 },
  });
  relayServer = net.createServer((socket) => relay.handle(socket));
  relayPort = await listen(relayServer);
});

afterAll(async () => {
  relayServer.close();
  upstream.close();
  other.close();
  await relay.close();
});

interface Got {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A request to the relay as the engine makes it: Host is the registry, TLS not verified. */
function get(path: string, options: { host?: string; method?: string; range?: string } = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port: relayPort,
        path,
        method: options.method ?? "GET",
        rejectUnauthorized: false,
        agent: false,
        headers: { host: options.host ?? registry, ...(options.range ? { range: options.range } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", reject);
        res.on("aborted", () => resolve({ status: -1, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on("error", (error) =>
      String(error).includes("socket hang up")
        ? resolve({ status: -1, headers: {}, body: Buffer.alloc(0) })
        : reject(error),
    );
    req.end();
  });
}

const blobPath = (data: Buffer) => `/v2/mp/adapter/blobs/${sha(data)}`;

describe("the relay", () => {
  it("answers /v2/ as a registry API v2, without any credential", async () => {
    const got = await get("/v2/");
    expect(got.status).toBe(200);
    expect(got.headers["docker-distribution-api-version"]).toBe("registry/2.0");
  });

  it("serves the index and its linux/amd64 manifest byte for byte, with type and digest", async () => {
    const top = await get(`/v2/mp/adapter/manifests/${sha(indexBytes)}`);
    expect(top.status).toBe(200);
    expect(top.body.equals(indexBytes)).toBe(true);
    expect(top.headers["content-type"]).toBe("application/vnd.oci.image.index.v1+json");
    expect(top.headers["docker-content-digest"]).toBe(sha(indexBytes));
    const amd64 = await get(`/v2/mp/adapter/manifests/${sha(image)}`);
    expect(amd64.body.equals(image)).toBe(true);
    expect(amd64.headers["content-type"]).toBe("application/vnd.oci.image.manifest.v1+json");
    const head = await get(`/v2/mp/adapter/manifests/${sha(image)}`, { method: "HEAD" });
    expect([head.status, head.headers["content-length"]]).toEqual([200, String(image.length)]);
  });

  it.each([
    ["another platform's manifest", `/v2/mp/adapter/manifests/${sha(armImage)}`, {}],
    ["a tag", "/v2/mp/adapter/manifests/latest", {}],
    ["the catalogue", "/v2/_catalog", {}],
    ["a blob of another repository", `/v2/mp/other/blobs/${sha(layer)}`, {}],
    ["a blob no manifest names", `/v2/mp/adapter/blobs/${sha("nothing")}`, {}],
    ["an upload", "/v2/mp/adapter/blobs/uploads/", { method: "POST" }],
    ["another host", "/v2/", { host: "registry.elsewhere.test" }],
  ])("answers 404 for %s", async (_what, path, options) => {
    expect((await get(path, options)).status).toBe(404);
  });

  it("fetches each blob once for every proxy, while they all read it", async () => {
    const before = seen.filter((s) => s.path.endsWith(sha(layer)) && s.status === 200).length;
    const all = await Promise.all(Array.from({ length: 8 }, () => get(blobPath(layer))));
    for (const got of all) {
      expect(got.status).toBe(200);
      expect(got.body.equals(layer)).toBe(true);
    }
    const again = await get(blobPath(layer));
    expect(again.body.equals(layer)).toBe(true);
    expect(seen.filter((s) => s.path.endsWith(sha(layer)) && s.status === 200).length - before).toBe(1);
    expect(relay.stats.fetches.get(sha(layer))).toBe(1);
    // The token was asked for once: the authorization is kept per repository.
    expect(seen.filter((s) => s.path.startsWith("/token")).length).toBe(1);
  });

  it("serves a range from where an engine resumes", async () => {
    const got = await get(blobPath(layer), { range: "bytes=1000-" });
    expect(got.status).toBe(206);
    expect(got.body.equals(layer.subarray(1000))).toBe(true);
    expect(got.headers["content-range"]).toBe(`bytes 1000-${layer.length - 1}/${layer.length}`);
  });

  it("follows a blob redirect itself, without the credentials", async () => {
    const all = await Promise.all([get(blobPath(redirected)), get(blobPath(redirected))]);
    for (const got of all) expect(got.body.equals(redirected)).toBe(true);
    expect(elsewhere).toEqual([{ path: "/store/blob", authorization: undefined }]);
  });

  it("keeps why it could not follow a redirect, for the proxy's error: the target's origin, not its query", async () => {
    const since = Date.now();
    expect((await get(blobPath(stranded))).status).toBe(502);
    const why = relay.refusalSince(since, [registry]);
    expect(why).toMatchObject({ code: "REGISTRY_UNREACHABLE" });
    expect(why?.message).toBe(
      `${registry}: its blob redirect to https://127.0.0.1:${closedPort} cannot be followed from this machine: connection refused`,
    );
    expect((why as SideloadError).hint).toContain("this machine must reach that server too");
    expect(relay.refusalSince(Date.now() + 1000, [registry])).toBeUndefined();
    expect(relay.refusalSince(since, ["registry.elsewhere.test"])).toBeUndefined();
  });

  it("answers a rate limit with the registry's Retry-After", async () => {
    const got = await get(blobPath(limited));
    expect(got.status).toBe(429);
    expect(got.headers["retry-after"]).toBe("120");
  });

  it("cuts a blob off that fails its digest, and fetches it again for the next", async () => {
    const first = await get(blobPath(corrupt));
    expect(first.body.equals(corrupt)).toBe(false);
    expect(first.status === -1 || first.body.length < corrupt.length).toBe(true);
    await get(blobPath(corrupt));
    expect(relay.stats.fetches.get(sha(corrupt))).toBe(2);
  });

  it("leaves no spool behind", async () => {
    const extra = await Relay.start({
      images: [],
      credentials: () => Promise.resolve(undefined),
      client: { env: {} },
    });
    const dir = (extra as unknown as { spool: { dir: string } }).spool.dir;
    expect(existsSync(dir)).toBe(true);
    await extra.close();
    expect(existsSync(dir)).toBe(false);
  });
});
