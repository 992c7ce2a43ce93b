import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  fingerprint,
  judgeHostKey,
  keyTypeOf,
  knownHostsLine,
  knownKeyTypes,
  parseKnownHosts,
} from "../../src/ssh/known-hosts.js";

/** A fake ed25519 public key blob: string "ssh-ed25519" then 32 key bytes. */
function blob(seed: number, type = "ssh-ed25519"): Buffer {
  const name = Buffer.from(type);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(name.length);
  const keyLen = Buffer.alloc(4);
  keyLen.writeUInt32BE(32);
  return Buffer.concat([len, name, keyLen, Buffer.alloc(32, seed)]);
}
const b64 = (b: Buffer) => b.toString("base64");
const keyA = blob(1);
const keyB = blob(2);
const rsaKey = blob(3, "ssh-rsa");

function hashed(name: string, salt = Buffer.alloc(20, 7)): string {
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;
}

describe("judgeHostKey", () => {
  it.each([
    ["plain host on port 22", `cp1.example.com ssh-ed25519 ${b64(keyA)}`, "cp1.example.com", 22],
    ["[host]:port", `[10.0.0.5]:2222 ssh-ed25519 ${b64(keyA)}`, "10.0.0.5", 2222],
    ["several names on a line", `cp0,cp1.example.com,10.0.0.5 ssh-ed25519 ${b64(keyA)}`, "10.0.0.5", 22],
    ["a hashed host", `${hashed("cp1.example.com")} ssh-ed25519 ${b64(keyA)}`, "cp1.example.com", 22],
    ["a hashed [host]:port", `${hashed("[10.0.0.5]:2222")} ssh-ed25519 ${b64(keyA)}`, "10.0.0.5", 2222],
    ["a wildcard", `*.example.com ssh-ed25519 ${b64(keyA)}`, "cp1.example.com", 22],
    ["a comment and a key comment", `# c\ncp1 ssh-ed25519 ${b64(keyA)} root@cp1`, "cp1", 22],
  ])("knows %s", (_name, text, host, port) => {
    expect(judgeHostKey(parseKnownHosts(text), host, port, keyA).verdict).toBe("known");
  });

  it("is unknown when no line names the host, or only on another port", () => {
    const lines = parseKnownHosts(`cp1 ssh-ed25519 ${b64(keyA)}\n[cp2]:2222 ssh-ed25519 ${b64(keyA)}`);
    expect(judgeHostKey(lines, "cp3", 22, keyA)).toEqual({ verdict: "unknown" });
    expect(judgeHostKey(lines, "cp1", 2222, keyA)).toEqual({ verdict: "unknown" });
    expect(judgeHostKey(lines, "cp2", 22, keyA)).toEqual({ verdict: "unknown" });
  });

  it("reports a changed key, naming the line", () => {
    const lines = parseKnownHosts(`other ssh-ed25519 ${b64(keyB)}\ncp1 ssh-ed25519 ${b64(keyA)}`);
    expect(judgeHostKey(lines, "cp1", 22, keyB)).toEqual({
      verdict: "changed",
      knownTypes: ["ssh-ed25519"],
      line: 2,
    });
  });

  it("treats a key of another type than the known one as changed, not new", () => {
    const lines = parseKnownHosts(`cp1 ssh-ed25519 ${b64(keyA)}`);
    expect(judgeHostKey(lines, "cp1", 22, rsaKey).verdict).toBe("changed");
  });

  it("refuses a @revoked key even when another line knows it", () => {
    const lines = parseKnownHosts(`cp1 ssh-ed25519 ${b64(keyA)}\n@revoked * ssh-ed25519 ${b64(keyA)}`);
    expect(judgeHostKey(lines, "cp1", 22, keyA)).toEqual({ verdict: "revoked", line: 2 });
  });

  it("honours a negated pattern", () => {
    const lines = parseKnownHosts(`*.example.com,!evil.example.com ssh-ed25519 ${b64(keyA)}`);
    expect(judgeHostKey(lines, "cp1.example.com", 22, keyA).verdict).toBe("known");
    expect(judgeHostKey(lines, "evil.example.com", 22, keyA).verdict).toBe("unknown");
  });

  it("ignores @cert-authority lines and lines it cannot read", () => {
    const lines = parseKnownHosts(
      `@cert-authority cp1 ssh-ed25519 ${b64(keyA)}\ngarbage\ncp1 ssh-ed25519 not-base64!`,
    );
    expect(lines.filter((l) => l.marker === undefined)).toHaveLength(0);
    expect(judgeHostKey(lines, "cp1", 22, keyA).verdict).toBe("unknown");
  });
});

describe("key helpers", () => {
  it("lists the known key types for a host, to offer them first", () => {
    const lines = parseKnownHosts(
      `cp1 ssh-rsa ${b64(rsaKey)}\ncp1 ssh-ed25519 ${b64(keyA)}\ncp2 ecdsa-sha2-nistp256 ${b64(keyB)}`,
    );
    expect(knownKeyTypes(lines, "cp1", 22)).toEqual(["ssh-rsa", "ssh-ed25519"]);
  });

  it("reads the type inside a key blob and prints a SHA256 fingerprint like ssh-keygen", () => {
    expect(keyTypeOf(keyA)).toBe("ssh-ed25519");
    expect(fingerprint(keyA)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it.each([false, true])("writes a line it can read back (hashed: %s)", (hash) => {
    const line = knownHostsLine("10.0.0.5", 2222, keyA, hash);
    expect(line.endsWith("\n")).toBe(true);
    expect(line.startsWith(hash ? "|1|" : "[10.0.0.5]:2222 ssh-ed25519 ")).toBe(true);
    expect(judgeHostKey(parseKnownHosts(line), "10.0.0.5", 2222, keyA).verdict).toBe("known");
  });
});
