/**
 * What the engine says when a registry refused or could not be reached (`POST /auth`, a pull's
 * error line), as a stable code with a hint: the one place the engine's words are read.
 */
import { SideloadError, oneLine, type ErrorCode } from "../errors.js";

const registryPatterns: [RegExp, ErrorCode, (registry: string) => string][] = [
  [
    /x509|certificate signed by unknown authority|certificate is not (valid|trusted)|tls: failed to verify/i,
    "REGISTRY_UNTRUSTED_CA",
    (r) =>
      `the proxy does not trust ${r}'s TLS certificate: pass --registry-ca FILE to install the registry's CA on the proxy`,
  ],
  [
    /toomanyrequests|too many requests|rate limit|\bHTTP 429\b|status(?: code)?:? 429\b/i,
    "REGISTRY_RATE_LIMITED",
    () => "the registry is rate-limiting: try again later, or with a lower --concurrency",
  ],
  [
    /unauthorized|authentication required|no basic auth credentials|incorrect username or password|denied: requested access/i,
    "REGISTRY_UNAUTHORIZED",
    (r) =>
      `check the user and password for ${r} (--registry-user, --registry-password-stdin or MP_SIDELOAD_REGISTRY_*)`,
  ],
  [
    /manifest unknown|manifest for .* not found|not found: manifest|repository .* not found|name unknown|404 not found/i,
    "MANIFEST_UNKNOWN",
    (r) =>
      `the registry ${r} has no image with this digest: was the image pushed, and does the pak match the build?`,
  ],
  [
    /no such host|connection refused|i\/o timeout|network is unreachable|no route to host|dial tcp|server misbehaving|tls handshake timeout|connection reset|EOF/i,
    "REGISTRY_UNREACHABLE",
    (r) => `the proxy cannot reach ${r}: check DNS, routes, firewalls and proxies from the proxy's network`,
  ],
];

/** Turn an engine's registry error text into a stable code with a hint. */
export function classifyRegistryError(
  message: string,
  registry: string,
  where: string,
  during: "login" | "pull",
): SideloadError {
  // One logs in *to* a registry and pulls *from* it.
  const what = `${where}: ${during} ${during === "login" ? "to" : "from"} ${registry} failed: ${oneLine(message, 300)}`;
  for (const [pattern, code, hint] of registryPatterns) {
    if (pattern.test(message)) {
      return new SideloadError(code, what, {
        hint: hint(registry),
      });
    }
  }
  return new SideloadError("PULL_FAILED", what, {
    hint: "run again with --debug for the engine's full answer",
  });
}
