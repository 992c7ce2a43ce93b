/**
 * The registry client against an in-process HTTPS registry speaking what the lab's registry does
 * not: Bearer challenges with a token service (Harbor, Docker Hub), OAuth identity tokens, and
 * redirects. The lab tests cover Basic auth, TLS trust and the network failures for real.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient, parseRetryAfter, type RateLimitWait } from "../../src/registry/registry-client.js";

const manifest = JSON.stringify({
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: { size: 100 },
  layers: [{ size: 3000 }],
});
const digest = `sha256:${createHash("sha256").update(manifest).digest("hex")}`;
const user = { username: "robot", password: "s3cret" };

let dir: string;
let cert: string;
let server: https.Server;
let other: https.Server;
let port: number;
let otherPort: number;
/** Every request the registry saw: path and Authorization header. */
const seen: { path: string; authorization: string | undefined; method: string; body: string }[] = [];
let limitedAnswers = 0;
let retryAfter = "30";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mp-sideload-registry-"));
  await promisify(execFile)("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    join(dir, "key.pem"),
    "-out",
    join(dir, "cert.pem"),
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-days",
    "1",
  ]);
  cert = await readFile(join(dir, "cert.pem"), "utf8");
  const key = await readFile(join(dir, "key.pem"), "utf8");
  const basic = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString("base64")}`;
  server = https.createServer({ key, cert }, (req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", `https://localhost:${port}`);
      seen.push({
        path: url.pathname,
        authorization: req.headers.authorization,
        method: req.method ?? "",
        body,
      });
      const realm = `https://localhost:${port}/token`;
      if (url.pathname === "/token") {
        const form = new URLSearchParams(body);
        const good =
          (req.method === "GET" && req.headers.authorization === basic) ||
          (req.method === "POST" && form.get("refresh_token") === "oauth-refresh");
        if (!good) return void res.writeHead(401).end();
        return void res.writeHead(200, { "content-type": "application/json" }).end('{"token":"tok-1"}');
      }
      const challenge = (repository: string) =>
        res
          .writeHead(401, {
            "www-authenticate": `Bearer realm="${realm}",service="test",scope="repository:${repository}:pull"`,
          })
          .end();
      if (url.pathname === `/v2/mp/moved/manifests/${digest}`) {
        if (req.headers.authorization !== "Bearer tok-1") return void challenge("mp/moved");
        // Moved to another origin: the credentials must not follow.
        return void res
          .writeHead(307, { location: `https://127.0.0.1:${otherPort}/v2/mp/x/manifests/${digest}` })
          .end();
      }
      if (url.pathname === `/v2/mp/limited/manifests/${digest}`) {
        // Rate-limited twice (Retry-After: 2), then served: counted across methods.
        if (limitedAnswers++ < 2) return void res.writeHead(429, { "retry-after": "2" }).end();
        return void res
          .writeHead(200, {
            "content-type": "application/vnd.oci.image.manifest.v1+json",
            "docker-content-digest": digest,
          })
          .end(manifest);
      }
      if (url.pathname === `/v2/mp/always-limited/manifests/${digest}`) {
        return void res.writeHead(429, { "retry-after": retryAfter }).end();
      }
      if (url.pathname === `/v2/mp/no-head/manifests/${digest}`) {
        if (req.method === "HEAD") return void res.writeHead(405).end();
        return void res
          .writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" })
          .end(manifest);
      }
      if (url.pathname.startsWith("/v2/mp/private/manifests/")) {
        if (req.headers.authorization !== "Bearer tok-1") return void challenge("mp/private");
        if (!url.pathname.endsWith(digest)) return void res.writeHead(404).end();
        return void res
          .writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" })
          .end(manifest);
      }
      res.writeHead(404).end();
    });
  });
  other = https.createServer({ key, cert }, (req, res) => {
    seen.push({
      path: `other:${req.url}`,
      authorization: req.headers.authorization,
      method: req.method ?? "",
      body: "",
    });
    res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" }).end(manifest);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
  otherPort = (other.address() as AddressInfo).port;
});

afterAll(async () => {
  server.close();
  other.close();
  await rm(dir, { recursive: true, force: true });
});

function client(
  options: {
    trusted?: boolean;
    retries?: number;
    waitBudgetMs?: number;
    onWait?: (w: RateLimitWait) => void;
  } = {},
) {
  const { trusted, ...limits } = options;
  return new RegistryClient(`localhost:${port}`, {
    env: {},
    certsDir: dir,
    ...(trusted === false ? {} : { ca: cert }),
    timeoutMs: 5000,
    ...limits,
  });
}
const ref = (repository: string, d = digest) => ({
  registry: `localhost:${port}`,
  repository,
  digest: d,
  reference: `localhost:${port}${repository}@${d}`,
});
const auth = (extra: object = {}) => ({ ...user, serveraddress: `localhost:${port}`, ...extra });

describe("RegistryClient", () => {
  it("answers a Bearer challenge: the token service is asked with the credentials, the manifest with the token", async () => {
    seen.length = 0;
    const c = client();
    const verdict = await c.check(ref("/mp/private"), auth());
    await c.close();
    expect(verdict).toMatchObject({ status: "ok", size: 3100 });
    const token = seen.find((s) => s.path === "/token");
    expect(token?.authorization).toMatch(/^Basic /);
    expect(seen.at(-1)).toMatchObject({
      path: `/v2/mp/private/manifests/${digest}`,
      authorization: "Bearer tok-1",
    });
  });

  it("exchanges an identity token by POST (as the docker client does), never as a password", async () => {
    seen.length = 0;
    const c = client();
    const verdict = await c.check(ref("/mp/private"), auth({ password: "", identitytoken: "oauth-refresh" }));
    await c.close();
    expect(verdict.status).toBe("ok");
    const token = seen.find((s) => s.path === "/token");
    expect(token?.method).toBe("POST");
    expect(new URLSearchParams(token?.body).get("grant_type")).toBe("refresh_token");
  });

  it("a token service that refuses gives REGISTRY_UNAUTHORIZED; an unknown digest MANIFEST_UNKNOWN", async () => {
    const c = client();
    const refused = await c.check(ref("/mp/private"), auth({ password: "wrong" }));
    const unknown = await c.check(ref("/mp/private", `sha256:${"0".repeat(64)}`), auth());
    await c.close();
    expect(refused.error?.code).toBe("REGISTRY_UNAUTHORIZED");
    expect(unknown.error?.code).toBe("MANIFEST_UNKNOWN");
  });

  it("follows a redirect to another origin without the credentials", async () => {
    seen.length = 0;
    const c = client();
    const verdict = await c.check(ref("/mp/moved"), auth());
    await c.close();
    expect(verdict.status).toBe("ok");
    expect(
      seen.find((s) => s.path === `/v2/mp/moved/manifests/${digest}` && s.authorization)?.authorization,
    ).toBe("Bearer tok-1");
    const moved = seen.find((s) => s.path.startsWith("other:"));
    expect(moved).toBeDefined();
    expect(moved?.authorization).toBeUndefined();
  });

  it("a certificate this machine does not trust gives REGISTRY_UNTRUSTED_CA", async () => {
    const c = client({ trusted: false });
    const verdict = await c.check(ref("/mp/private"), auth());
    await c.close();
    expect(verdict.error?.code).toBe("REGISTRY_UNTRUSTED_CA");
  });
});

describe("rate limits and HEAD", () => {
  it("429 with Retry-After: 2 twice, then 200: succeeds on the third try, each wait reported", async () => {
    limitedAnswers = 0;
    const waits: RateLimitWait[] = [];
    const c = client({ retries: 3, waitBudgetMs: 60_000, onWait: (w) => waits.push(w) });
    const started = Date.now();
    const verdict = await c.check(ref("/mp/limited"), undefined);
    await c.close();
    expect(verdict).toMatchObject({ status: "public", waitedMs: 4000 });
    expect(waits.map((w) => [w.waitMs, w.attempt, w.retryAfter])).toEqual([
      [2000, 2, "2"],
      [2000, 3, "2"],
    ]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3900);
  });

  it("a Retry-After longer than the time allowed: REGISTRY_RATE_LIMITED at once, saying so", async () => {
    retryAfter = "30";
    const waits: RateLimitWait[] = [];
    const c = client({ retries: 3, waitBudgetMs: 5000, onWait: (w) => waits.push(w) });
    const started = Date.now();
    const verdict = await c.check(ref("/mp/always-limited"), undefined);
    await c.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(waits).toEqual([]);
    expect(verdict.error?.code).toBe("REGISTRY_RATE_LIMITED");
    expect(verdict.error?.message).toContain("asked to wait 30 s (Retry-After), more than the 5 s left");
    expect(verdict.error?.hint).toContain("--retries");
  });

  it("no tries left after --retries: the message counts the waits", async () => {
    retryAfter = "0";
    const c = client({ retries: 2 });
    const verdict = await c.check(ref("/mp/always-limited"), undefined);
    await c.close();
    expect(verdict.error?.code).toBe("REGISTRY_RATE_LIMITED");
    expect(verdict.error?.message).toContain("waited 0 s over 2 retries; no tries left (--retries 2)");
  });

  it("a refusal costs a HEAD and no GET; a registry answering HEAD with 405 gets GET", async () => {
    seen.length = 0;
    const c = client();
    await c.check(ref("/mp/private"), undefined);
    expect(seen.filter((s) => s.path.startsWith("/v2/")).map((s) => s.method)).toEqual(["HEAD"]);
    seen.length = 0;
    const verdict = await c.check(ref("/mp/no-head"), undefined);
    await c.close();
    expect(verdict).toMatchObject({ status: "public", size: 3100 });
    expect(seen.map((s) => s.method)).toEqual(["HEAD", "GET"]);
  });

  it.each([
    ["2", 2000],
    ["0", 0],
    [" 10 ", 10_000],
    ["Wed, 21 Oct 2015 07:28:05 GMT", 5000],
    ["soon", undefined],
    [undefined, undefined],
  ])("parseRetryAfter(%j) → %j ms", (header, ms) =>
    expect(parseRetryAfter(header, Date.parse("Wed, 21 Oct 2015 07:28:00 GMT"))).toBe(ms),
  );
});
