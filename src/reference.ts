/**
 * The image reference grammar of the distribution project (the one Docker Engine applies),
 * restricted to what a management pack may legitimately carry. Every value comes from an
 * untrusted pak, so the checks are strict and the problems are described precisely.
 */

/** One DNS label of a registry host: letters, digits and inner hyphens. */
const domainComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const ipv6 = "\\[(?:[a-fA-F0-9:]+)\\]";
const registryPattern = new RegExp(
  `^(?:${domainComponent}(?:\\.${domainComponent})*|${ipv6})(?::([0-9]{1,5}))?$`,
);

/** A repository path component: lowercase alphanumerics joined by `.`, `_`, `__` or runs of `-`. */
const pathComponent = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;

/** Digest algorithms the engine verifies, with the length of their lowercase hex encoding. */
const digestAlgorithms: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

/** The longest repository name the distribution grammar accepts. */
const maxNameLength = 255;

/** A problem with one value, described for a message that will add where the value came from. */
export type ValueProblem = { ok: false; problem: string; example: string };
export type ValueCheck<T> = { ok: true; value: T } | ValueProblem;

/** Check a registry as written in a pak or on the command line: `host[:port]`, no scheme, no path. */
export function checkRegistry(value: string): ValueCheck<string> {
  const example = "harbor.example.com:8443";
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    return { ok: false, problem: "has a URL scheme; it must be a bare host[:port]", example };
  }
  if (value.includes("/"))
    return { ok: false, problem: "contains '/'; it must be a bare host[:port]", example };
  const match = registryPattern.exec(value);
  if (!match) return { ok: false, problem: "is not a valid registry host[:port]", example };
  const port = match[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    return { ok: false, problem: "has a port outside 1-65535", example };
  }
  return { ok: true, value };
}

/**
 * Check a REPOSITORY value as `mp-build` writes it: a leading `/` then path components.
 * Returns the value unchanged (with its leading slash), since composition is verbatim.
 */
export function checkRepository(value: string): ValueCheck<string> {
  const example = "/mp/mysql-adapter";
  if (!value.startsWith("/")) return { ok: false, problem: "must start with '/'", example };
  const path = value.slice(1);
  if (path.length === 0) return { ok: false, problem: "is empty after '/'", example };
  if (path.length > maxNameLength) {
    return { ok: false, problem: `is longer than ${maxNameLength} characters`, example };
  }
  for (const component of path.split("/")) {
    if (!pathComponent.test(component)) {
      const why =
        component === ""
          ? "has an empty path component ('//' or a trailing '/')"
          : /[A-Z]/.test(component)
            ? "contains uppercase letters; repository names are lowercase"
            : "has a path component that is not lowercase letters and digits joined by '.', '_' or '-'";
      return { ok: false, problem: why, example };
    }
  }
  return { ok: true, value };
}

/** Check a manifest digest: `algorithm:hex`, a known algorithm, lowercase hex of the right length. */
export function checkDigest(value: string): ValueCheck<string> {
  const example = `sha256:${"0123456789abcdef".repeat(4)}`;
  const colon = value.indexOf(":");
  if (colon < 0) return { ok: false, problem: "is not of the form algorithm:hex", example };
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  const length = digestAlgorithms[algorithm];
  if (length === undefined) {
    return { ok: false, problem: "uses an unknown algorithm (expected sha256, sha384 or sha512)", example };
  }
  if (/[A-F]/.test(hex) && /^[0-9a-fA-F]+$/.test(hex)) {
    return { ok: false, problem: "has uppercase hex; digests are lowercase", example };
  }
  if (!/^[0-9a-f]*$/.test(hex)) return { ok: false, problem: "has characters that are not hex", example };
  if (hex.length !== length) {
    return { ok: false, problem: `has ${hex.length} hex digits; ${algorithm} needs ${length}`, example };
  }
  return { ok: true, value };
}

/** The three parts of an adapter image reference, exactly as the pak (or the user) gives them. */
export interface ImageReference {
  registry: string;
  /** With its leading `/`, as in the pak. */
  repository: string;
  digest: string;
}

/**
 * Compose the reference the proxy looks up: `REGISTRY + REPOSITORY + "@" + DIGEST`, verbatim.
 * The host is not normalised: `mp-build` may write `registry.hub.docker.com`, and the proxy
 * looks up exactly that string.
 */
export function composeReference(ref: ImageReference): string {
  return `${ref.registry}${ref.repository}@${ref.digest}`;
}

/** The repository name as the engine API wants it in `fromImage`: `REGISTRY/REPOSITORY`. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.registry}${ref.repository}`;
}

/** Docker Hub's name, and the legacy one the engine maps onto it. */
const hubDomain = "docker.io";
const legacyHubDomain = "index.docker.io";

/**
 * A `name@digest` (or `name:tag`) reference in the fully qualified form the engine resolves it
 * to, as the distribution project's `ParseNormalizedNamed` does: a first component without
 * `.` or `:` that is not `localhost` (and is lowercase) is a path on Docker Hub, not a host;
 * `index.docker.io` is `docker.io`; a single-component Hub name is under `library/`. Other
 * hosts are kept exactly as written, including `registry.hub.docker.com`, which the engine
 * does not map onto Docker Hub. Undefined when `reference` has no name.
 */
export function normalizeReference(reference: string): string | undefined {
  const at = reference.indexOf("@");
  const nameAndTag = at < 0 ? reference : reference.slice(0, at);
  const suffix = at < 0 ? "" : reference.slice(at);
  // A tag follows the last ':' after the last '/' (a ':' before it is a port).
  const slash = nameAndTag.lastIndexOf("/");
  const colon = nameAndTag.indexOf(":", slash + 1);
  const name = colon < 0 ? nameAndTag : nameAndTag.slice(0, colon);
  const tag = colon < 0 ? "" : nameAndTag.slice(colon);
  if (name === "") return undefined;
  const first = name.indexOf("/");
  const head = first < 0 ? "" : name.slice(0, first);
  const isHost = first >= 0 && (/[.:]/.test(head) || head === "localhost" || head.toLowerCase() !== head);
  let domain = isHost ? head : hubDomain;
  let path = isHost ? name.slice(first + 1) : name;
  if (domain === legacyHubDomain) domain = hubDomain;
  if (domain === hubDomain && !path.includes("/")) path = `library/${path}`;
  return `${domain}/${path}${tag}${suffix}`;
}

/**
 * True when `repoDigest` (one of an image's `RepoDigests`, which the engine lists in familiar
 * form: `user/repo@…`, `alpine@…` for Docker Hub) names the same image as `wanted` (the
 * reference the proxy will look up, e.g. `docker.io/library/alpine@…`): both compared in the
 * form the engine resolves them to.
 */
export function sameImageReference(wanted: string, repoDigest: string): boolean {
  if (wanted === repoDigest) return true;
  const a = normalizeReference(wanted);
  return a !== undefined && a === normalizeReference(repoDigest);
}
