/**
 * The X-Registry-Auth header as the engine decodes it (Go's padded base64 URLEncoding): an
 * unpadded header is silently dropped, and the pull goes out without credentials.
 */
import { describe, expect, it } from "vitest";
import { registryAuthHeader } from "../../src/engine/engine-api.js";

describe("registryAuthHeader", () => {
  it("is padded base64 in the URL alphabet, for every length of the JSON", () => {
    for (const password of ["a", "ab", "abc", "p+/?>~", "ünïcode"]) {
      const auth = { username: "u", password, serveraddress: "r.example:5000" };
      const header = registryAuthHeader(auth);
      expect(header.length % 4).toBe(0);
      expect(header).toMatch(/^[A-Za-z0-9_-]+={0,2}$/);
      const standard = header.replace(/-/g, "+").replace(/_/g, "/");
      expect(JSON.parse(Buffer.from(standard, "base64").toString("utf8"))).toEqual(auth);
    }
  });
});
