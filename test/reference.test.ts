import { describe, expect, it } from "vitest";
import { checkDigest, checkRegistry, checkRepository, composeReference } from "../src/reference.js";

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
