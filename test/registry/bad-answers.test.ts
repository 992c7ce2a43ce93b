/**
 * A registry that answers, but not as a registry does: a manifest, an index or a token that is
 * not the JSON it should be. Each is REGISTRY_BAD_ANSWER, saying the registry answered (never
 * REGISTRY_UNREACHABLE's "cannot reach it from this machine"), from the client and from the
 * `check-registry` command, against an in-process HTTPS server on loopback.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writePak } from "../../scripts/pak-writer.js";
import { main } from "../../src/cli/main.js";
import { RegistryClient } from "../../src/registry/registry-client.js";
import { captureTerminal } from "../support/terminal.js";

const page = "<html><body>Please sign in to the corporate proxy</body></html>";
const digestOf = (text: string) => `sha256:${createHash("sha256").update(text).digest("hex")}`;
const goodManifest = JSON.stringify({ schemaVersion: 2, config: { size: 1 }, layers: [] });
/** The page's own digest: served as the manifest it names, the digest check alone would pass. */
const pageDigest = digestOf(page);
const goodDigest = digestOf(goodManifest);
const user = { username: "robot", password: "s3cret-bad-answers" };

let dir: string;
let cert: string;
let server: https.Server;
let port: number;

/** What each repository serves for its manifest (status 200), or a token service's answer. */
function answer(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? "/", `https://localhost:${port}`);
  const path = url.pathname;
  const manifestType = "application/vnd.docker.distribution.manifest.v2+json";
  const indexType = "application/vnd.oci.image.index.v1+json";
  if (path === "/token") return void res.writeHead(200, { "content-type": "text/html" }).end(page);
  if (path === "/token-empty") return void res.writeHead(200).end('{"expires_in":300}');
  if (path.startsWith("/v2/mp/html/"))
    return void res.writeHead(200, { "content-type": "text/html" }).end(page);
  if (path.startsWith("/v2/mp/html-as-manifest/"))
    return void res.writeHead(200, { "content-type": manifestType }).end(page);
  if (path.startsWith("/v2/mp/html-index/"))
    return void res
      .writeHead(200, { "content-type": indexType, "docker-content-digest": pageDigest })
      .end(page);
  if (path.startsWith("/v2/mp/list-less-index/")) {
    const body = JSON.stringify({ schemaVersion: 2 });
    return void res
      .writeHead(200, { "content-type": indexType, "docker-content-digest": digestOf(body) })
      .end(body);
  }
  if (path.startsWith("/v2/mp/null/"))
    return void res.writeHead(200, { "content-type": manifestType }).end("null");
  const bearer = (realm: string) =>
    res.writeHead(401, { "www-authenticate": `Bearer realm="${realm}",service="t"` }).end();
  if (path.startsWith("/v2/mp/bad-token/")) return void bearer(`https://localhost:${port}/token`);
  if (path.startsWith("/v2/mp/empty-token/")) return void bearer(`https://localhost:${port}/token-empty`);
  if (path.startsWith("/v2/mp/no-realm/"))
    return void res.writeHead(401, { "www-authenticate": 'Bearer service="t"' }).end();
  if (path.startsWith("/v2/mp/good/"))
    return void res.writeHead(200, { "content-type": manifestType }).end(goodManifest);
  res.writeHead(404).end();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mp-sideload-bad-answers-"));
  await promisify(execFile)("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-subj", "/CN=localhost"],
    ...["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1"],
  ]);
  cert = await readFile(join(dir, "cert.pem"), "utf8");
  server = https.createServer({ key: await readFile(join(dir, "key.pem"), "utf8"), cert }, answer);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.close();
  await rm(dir, { recursive: true, force: true });
});

const registry = () => `localhost:${port}`;
const ref = (repository: string, digest = pageDigest) => ({
  registry: registry(),
  repository,
  digest,
  reference: `${registry()}${repository}@${digest}`,
});

describe("a registry answer that is not the JSON it should be", () => {
  it.each([
    [
      "an HTML page for the manifest (its own digest, so the digest check passes)",
      "/mp/html",
      /manifest .*not a JSON object \(starting "<html>/,
    ],
    ["an HTML page labelled as a manifest", "/mp/html-as-manifest", /not a JSON object/],
    ["an HTML page for an image index", "/mp/html-index", /not a JSON object/],
    [
      "an image index without its manifests list",
      "/mp/list-less-index",
      /image index without a manifests list/,
    ],
    ["JSON null for the manifest", "/mp/null", /not a JSON object \(starting "null"\)/],
    ["a token service answering HTML", "/mp/bad-token", /token service .*not a JSON object/],
    ["a token service answering JSON without a token", "/mp/empty-token", /JSON without a token/],
    ["a Bearer challenge without a realm", "/mp/no-realm", /names no realm/],
  ])("%s: REGISTRY_BAD_ANSWER, the registry answered", async (_what, repository, message) => {
    const client = new RegistryClient(registry(), { env: {}, certsDir: dir, ca: cert, timeoutMs: 5000 });
    try {
      const digest =
        repository === "/mp/list-less-index" ? digestOf(JSON.stringify({ schemaVersion: 2 })) : pageDigest;
      const verdict = await client.check(ref(repository, digest), { ...user, serveraddress: registry() });
      expect(verdict.status).toBe("failed");
      expect(verdict.error?.code).toBe("REGISTRY_BAD_ANSWER");
      expect(verdict.error?.message).toMatch(message);
      expect(verdict.error?.message).not.toMatch(/cannot reach/);
      expect(verdict.error?.hint).toMatch(/answered, but not as a registry API v2 does/);
      expect(`${verdict.error?.message} ${verdict.error?.hint}`).not.toContain(user.password);
    } finally {
      await client.close();
    }
  });

  it("a good manifest from the same server is still ok (the server itself is sound)", async () => {
    const client = new RegistryClient(registry(), { env: {}, certsDir: dir, ca: cert, timeoutMs: 5000 });
    try {
      expect((await client.check(ref("/mp/good", goodDigest), undefined)).status).toBe("public");
    } finally {
      await client.close();
    }
  });

  it("check-registry names REGISTRY_BAD_ANSWER in its report and exits 1", async () => {
    const pak = join(dir, "bad.pak");
    await writePak(pak, {
      adapters: [{ kind: "BadAdapter", registry: registry(), repository: "/mp/html", digest: pageDigest }],
    });
    const env = { NODE_EXTRA_CA_CERTS: join(dir, "cert.pem"), HOME: dir };
    const human = captureTerminal({ env });
    expect(await main(["check-registry", pak], human.terminal)).toBe(1);
    expect(human.stdout()).toMatch(/FAILED .*\n +REGISTRY_BAD_ANSWER: .*not a JSON object/);
    expect(human.stdout()).not.toMatch(/cannot reach/);

    const json = captureTerminal({ env });
    expect(await main(["check-registry", pak, "--json"], json.terminal)).toBe(1);
    const document = JSON.parse(json.stdout()) as { results: { status: string; error?: { code: string } }[] };
    expect(document.results.map((r) => [r.status, r.error?.code])).toEqual([
      ["failed", "REGISTRY_BAD_ANSWER"],
    ]);
  });
});
