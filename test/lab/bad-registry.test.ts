/**
 * `pull` from a registry that answers, but not as a registry does (an HTML page for the
 * manifest, as a login page in front of a registry serves it): the check from this machine
 * names REGISTRY_BAD_ANSWER, never "cannot reach it", and, as for a registry this machine
 * cannot reach, the run goes on and the proxy's own engine decides. Its pull fails; nothing is
 * pulled. The "registry" is an HTTPS server of the test's own on loopback.
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
import { writePak } from "../../scripts/pak-writer.js";
import { parseReport, runCli } from "./cli.js";
import { clearImages, inventoryArgs, loadLab, registryEnv, repoDigests, type Lab } from "./lab.js";

const page = "<html><body>Sign in to continue</body></html>";
const digest = `sha256:${createHash("sha256").update(page).digest("hex")}`;

let lab: Lab;
let dir: string;
let server: https.Server;
let pak: string;

beforeAll(async () => {
  lab = loadLab();
  await clearImages(lab, 1);
  dir = await mkdtemp(join(tmpdir(), "mp-sideload-bad-registry-"));
  await promisify(execFile)("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-subj", "/CN=127.0.0.1"],
    ...["-addext", "subjectAltName=IP:127.0.0.1", "-days", "1"],
  ]);
  const tls = { key: await readFile(join(dir, "key.pem")), cert: await readFile(join(dir, "cert.pem")) };
  // Every path answers the page with 200, /v2/ included: something answers, not a registry.
  server = https.createServer(tls, (_req, res) =>
    res.writeHead(200, { "content-type": "text/html" }).end(page),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const registry = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  pak = join(dir, "portal.pak");
  await writePak(pak, { adapters: [{ kind: "PortalAdapter", registry, repository: "/mp/portal", digest }] });
});

afterAll(async () => {
  server.close();
  await rm(dir, { recursive: true, force: true });
});

describe("a registry that answers, but not as a registry does", () => {
  it("pull: the check from here names REGISTRY_BAD_ANSWER, the proxy's engine decides, nothing is pulled", async () => {
    const run = await runCli(["pull", pak, ...inventoryArgs(lab), "--limit", "proxy-1", "--json"], {
      env: { ...registryEnv(lab), NODE_EXTRA_CA_CERTS: join(dir, "cert.pem") },
    });
    expect(run.stderr).toMatch(/warning: REGISTRY_BAD_ANSWER: 127\.0\.0\.1:\d+: .*not a JSON object/);
    expect(run.stderr).not.toMatch(/cannot reach it from this machine/);
    expect(run.code, run.stderr).toBe(1);
    const report = parseReport(run);
    expect(report.proxies.map((p) => [p.name, p.status])).toEqual([["proxy-1", "failed"]]);
    expect(await repoDigests(lab, 1)).toEqual([]);
    expect(`${run.stdout}${run.stderr}`).not.toContain(lab.registryPassword);
  });

  it("check-registry: REGISTRY_BAD_ANSWER with its hint, exit 1", async () => {
    const run = await runCli(["check-registry", pak, "--json"], {
      env: { NODE_EXTRA_CA_CERTS: join(dir, "cert.pem") },
    });
    expect(run.code, run.stderr).toBe(1);
    const document = JSON.parse(run.stdout) as { results: { error?: { code: string; hint?: string } }[] };
    expect(document.results[0]?.error?.code).toBe("REGISTRY_BAD_ANSWER");
    expect(document.results[0]?.error?.hint).toMatch(/answered, but not as a registry API v2 does/);
  });
});
