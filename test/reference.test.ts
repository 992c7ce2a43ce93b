import { describe, expect, it } from "vitest";
import {
  checkDigest,
  checkRegistry,
  checkRepository,
  composeReference,
  normalizeReference,
  sameImageReference,
} from "../src/reference.js";

const hex64 = "a".repeat(64);

describe("checkRegistry", () => {
  it.each([
    "harbor.example.com",
    "harbor.example.com:8443",
    "127.0.0.1:5000",
    "localhost",
    "registry.hub.docker.com",
    "[::1]:5000",
    "Harbor.Example.com",
  ])("accepts %s", (value) => expect(checkRegistry(value)).toEqual({ ok: true, value }));
  it.each([
    ["https://harbor.example.com", "URL scheme"],
    ["harbor.example.com/mp", "contains '/'"],
    ["harbor example.com", "not a valid"],
    ["harbor.example.com;id", "not a valid"],
    ["$(id)", "not a valid"],
    ["`id`", "not a valid"],
    ["-harbor.example.com", "not a valid"],
    ["harbor..example.com", "not a valid"],
    ["harbor.example.com:0", "port outside"],
    ["harbor.example.com:65536", "port outside"],
    ["harbor.example.com:", "not a valid"],
    ["", "not a valid"],
  ])("rejects %j (%s)", (value, problem) => {
    const result = checkRegistry(value);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problem).toContain(problem);
  });
});

describe("checkRepository", () => {
  it.each(["/mp/mysql-adapter", "/a", "/a/b/c", "/a.b_c__d--e", "/library/alpine"])("accepts %s", (value) =>
    expect(checkRepository(value)).toEqual({ ok: true, value }),
  );
  it.each([
    ["mp/a", "must start with '/'"],
    ["/", "empty"],
    ["/mp//a", "empty path component"],
    ["/mp/a/", "empty path component"],
    ["/MP/a", "uppercase"],
    ["/mp/a b", "not lowercase"],
    ["/mp/a;b", "not lowercase"],
    ["/mp/$(id)", "not lowercase"],
    ["/mp/..", "not lowercase"],
    ["/mp/.hidden", "not lowercase"],
    ["/mp/a_", "not lowercase"],
    ["/mp/a___b", "not lowercase"],
    [`/${"a".repeat(256)}`, "longer than 255"],
  ])("rejects %j (%s)", (value, problem) => {
    const result = checkRepository(value);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problem).toContain(problem);
  });
});

describe("checkDigest", () => {
  it.each([`sha256:${hex64}`, `sha384:${"b".repeat(96)}`, `sha512:${"c".repeat(128)}`])(
    "accepts %s",
    (value) => expect(checkDigest(value)).toEqual({ ok: true, value }),
  );
  it.each([
    [hex64, "algorithm:hex"],
    [`sha256:${"A".repeat(64)}`, "uppercase"],
    [`sha256:${"a".repeat(63)}`, "63 hex digits"],
    [`sha256:${"a".repeat(65)}`, "65 hex digits"],
    [`md5:${"a".repeat(32)}`, "unknown algorithm"],
    [`SHA256:${hex64}`, "unknown algorithm"],
    [`sha256:${"g".repeat(64)}`, "not hex"],
    [`sha256:${"a".repeat(63)} `, "not hex"],
  ])("rejects %j (%s)", (value, problem) => {
    const result = checkDigest(value);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problem).toContain(problem);
  });
});

describe("composeReference", () => {
  it("joins the parts verbatim, without normalising the host", () => {
    expect(
      composeReference({
        registry: "registry.hub.docker.com",
        repository: "/acme/x",
        digest: `sha256:${hex64}`,
      }),
    ).toBe(`registry.hub.docker.com/acme/x@sha256:${hex64}`);
  });
});

const d = `sha256:${hex64}`;

describe("normalizeReference (as the engine's ParseNormalizedNamed)", () => {
  it.each([
    [`alpine@${d}`, `docker.io/library/alpine@${d}`],
    [`library/alpine@${d}`, `docker.io/library/alpine@${d}`],
    [`docker.io/alpine@${d}`, `docker.io/library/alpine@${d}`],
    [`docker.io/library/alpine@${d}`, `docker.io/library/alpine@${d}`],
    [`index.docker.io/alpine@${d}`, `docker.io/library/alpine@${d}`],
    [`index.docker.io/user/repo@${d}`, `docker.io/user/repo@${d}`],
    [`user/repo@${d}`, `docker.io/user/repo@${d}`],
    [`user/team/repo@${d}`, `docker.io/user/team/repo@${d}`],
    [`user/repo:1.0`, `docker.io/user/repo:1.0`],
    ["alpine", "docker.io/library/alpine"],
    // Hosts: a dot, a port, localhost, or uppercase in the first component.
    [`registry.hub.docker.com/library/alpine@${d}`, `registry.hub.docker.com/library/alpine@${d}`],
    [`registry.hub.docker.com/alpine@${d}`, `registry.hub.docker.com/alpine@${d}`],
    [`harbor.example.com:8443/mp/x@${d}`, `harbor.example.com:8443/mp/x@${d}`],
    [`localhost/x@${d}`, `localhost/x@${d}`],
    [`localhost:5000/x:1@${d}`, `localhost:5000/x:1@${d}`],
    [`myhost:5000/x@${d}`, `myhost:5000/x@${d}`],
    [`Harbor/x@${d}`, `Harbor/x@${d}`],
    [`[::1]:5000/mp/x@${d}`, `[::1]:5000/mp/x@${d}`],
    [`docker.io.example.com/x@${d}`, `docker.io.example.com/x@${d}`],
  ])("%s → %s", (input, expected) => expect(normalizeReference(input)).toBe(expected));

  it("has no form for an empty name", () => expect(normalizeReference(`@${d}`)).toBeUndefined());
});

describe("sameImageReference", () => {
  it.each([
    [`docker.io/user/repo@${d}`, `user/repo@${d}`, true],
    [`docker.io/library/alpine@${d}`, `alpine@${d}`, true],
    [`docker.io/alpine@${d}`, `alpine@${d}`, true],
    [`index.docker.io/user/repo@${d}`, `user/repo@${d}`, true],
    [`harbor.example.com/mp/x@${d}`, `harbor.example.com/mp/x@${d}`, true],
    // The engine keeps registry.hub.docker.com apart from Docker Hub's docker.io.
    [`registry.hub.docker.com/user/repo@${d}`, `user/repo@${d}`, false],
    [`registry.hub.docker.com/library/alpine@${d}`, `alpine@${d}`, false],
    [`docker.io/user/repo@${d}`, `user/other@${d}`, false],
    [`docker.io/user/repo@${d}`, `user/repo@sha256:${"b".repeat(64)}`, false],
    [`harbor.example.com/mp/x@${d}`, `mp/x@${d}`, false],
    [`Harbor.example.com/mp/x@${d}`, `harbor.example.com/mp/x@${d}`, false],
  ])("%s vs %s → %s", (wanted, listed, same) => expect(sameImageReference(wanted, listed)).toBe(same));
});
