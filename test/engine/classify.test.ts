import { describe, expect, it } from "vitest";
import { exitStatusOf } from "../../src/errors.js";
import { classifyRegistryError } from "../../src/engine/registry-errors.js";

describe("classifyRegistryError", () => {
  // Messages as Docker Engine 20.10 and registries word them.
  it.each([
    ['Get "https://r:5000/v2/": x509: certificate signed by unknown authority', "REGISTRY_UNTRUSTED_CA"],
    [
      "Get https://r/v2/: tls: failed to verify certificate: x509: certificate is not valid for any names",
      "REGISTRY_UNTRUSTED_CA",
    ],
    ["login attempt to https://r/v2/ failed with status: 401 Unauthorized", "REGISTRY_UNAUTHORIZED"],
    ["Head https://r/v2/mp/a/manifests/sha256:x: no basic auth credentials", "REGISTRY_UNAUTHORIZED"],
    ["unauthorized: incorrect username or password", "REGISTRY_UNAUTHORIZED"],
    ["toomanyrequests: You have reached your pull rate limit.", "REGISTRY_RATE_LIMITED"],
    ['error parsing HTTP 429 response body: unexpected end of JSON input: ""', "REGISTRY_RATE_LIMITED"],
    ["manifest unknown: manifest unknown", "MANIFEST_UNKNOWN"],
    ["manifest for r/mp/a@sha256:abc not found: manifest unknown: manifest unknown", "MANIFEST_UNKNOWN"],
    ['Get "https://r:5000/v2/": dial tcp [::1]:5000: connect: connection refused', "REGISTRY_UNREACHABLE"],
    [
      'Get "https://harbor.example.com/v2/": dial tcp: lookup harbor.example.com: no such host',
      "REGISTRY_UNREACHABLE",
    ],
    ["net/http: TLS handshake timeout", "REGISTRY_UNREACHABLE"],
    ["something nobody expected", "PULL_FAILED"],
  ])("%s → %s", (message, code) => {
    const error = classifyRegistryError(message, "r:5000", "proxy-1 (h:22)", "pull");
    expect(error.code).toBe(code);
    expect(error.message).toContain("proxy-1 (h:22)");
    expect(error.hint).toBeTruthy();
    // Raised on a proxy, after the gate handed out credentials: a run it ends exits 1, never 2.
    expect(exitStatusOf(error, { proxiesChanged: true })).toBe(1);
  });

  it("logs in to a registry and pulls from it", () => {
    const message = "unauthorized: incorrect username or password";
    expect(classifyRegistryError(message, "r:5000", "proxy-1", "login").message).toMatch(
      /^proxy-1: login to r:5000 failed: /,
    );
    expect(classifyRegistryError(message, "r:5000", "proxy-1", "pull").message).toMatch(
      /^proxy-1: pull from r:5000 failed: /,
    );
  });
});
