import { globToRegExp } from "../glob.js";
import { createHash, createHmac, randomBytes } from "node:crypto";

/** One usable line of a known_hosts file. */
export interface KnownHostLine {
  marker: "revoked" | "cert-authority" | undefined;
  /** The comma-separated host patterns (plain, negated, wildcard or hashed). */
  patterns: string[];
  keyType: string;
  /** The public key blob, decoded from base64. */
  key: Buffer;
  line: number;
}

/** Parse OpenSSH known_hosts text. Lines it cannot read are skipped, as OpenSSH does. */
export function parseKnownHosts(text: string): KnownHostLine[] {
  const lines: KnownHostLine[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const fields = raw.trim().split(/\s+/);
    if (fields.length === 0 || fields[0] === "" || fields[0]?.startsWith("#")) return;
    let marker: KnownHostLine["marker"];
    if (fields[0] === "@revoked" || fields[0] === "@cert-authority") {
      marker = fields[0] === "@revoked" ? "revoked" : "cert-authority";
      fields.shift();
    }
    const [hosts, keyType, base64] = fields;
    if (!hosts || !keyType || !base64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return;
    lines.push({
      marker,
      patterns: hosts.split(","),
      keyType,
      key: Buffer.from(base64, "base64"),
      line: index + 1,
    });
  });
  return lines;
}

/** The name OpenSSH looks a host up by: `host` on port 22, else `[host]:port`. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function matchPattern(pattern: string, name: string): boolean {
  if (pattern.startsWith("|1|")) {
    const [, , salt, hash] = pattern.split("|");
    if (!salt || !hash) return false;
    const mac = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return mac === hash;
  }
  return globToRegExp(pattern, { ignoreCase: true }).test(name);
}

/** Does a line's host field match `name`? A negated pattern that matches excludes the line. */
export function lineMatches(line: KnownHostLine, name: string): boolean {
  let positive = false;
  for (const pattern of line.patterns) {
    if (pattern.startsWith("!")) {
      if (matchPattern(pattern.slice(1), name)) return false;
    } else if (matchPattern(pattern, name)) {
      positive = true;
    }
  }
  return positive;
}

export type HostKeyVerdict =
  | { verdict: "known"; line: number }
  | { verdict: "unknown" }
  | { verdict: "changed"; knownTypes: string[]; line: number }
  | { verdict: "revoked"; line: number };

/**
 * Judge a presented host key against known_hosts lines, as OpenSSH does: a revoked key is
 * refused outright; a matching key is known; a host with keys on record but not this one has
 * changed (whatever the key type: a downgrade to another type is refused as well); else unknown.
 */
export function judgeHostKey(
  lines: KnownHostLine[],
  host: string,
  port: number,
  key: Buffer,
): HostKeyVerdict {
  const name = knownHostsName(host, port);
  const revoked = lines.find((l) => l.marker === "revoked" && l.key.equals(key));
  if (revoked) return { verdict: "revoked", line: revoked.line };
  const forHost = lines.filter((l) => l.marker === undefined && lineMatches(l, name));
  const match = forHost.find((l) => l.key.equals(key));
  if (match) return { verdict: "known", line: match.line };
  const first = forHost[0];
  if (first)
    return { verdict: "changed", knownTypes: [...new Set(forHost.map((l) => l.keyType))], line: first.line };
  return { verdict: "unknown" };
}

/** The key types known_hosts holds for a host, to offer them first in key exchange. */
export function knownKeyTypes(lines: KnownHostLine[], host: string, port: number): string[] {
  const name = knownHostsName(host, port);
  return [
    ...new Set(lines.filter((l) => l.marker === undefined && lineMatches(l, name)).map((l) => l.keyType)),
  ];
}

/** The key type named inside a public key blob (its first SSH string). */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return "unknown";
  const length = key.readUInt32BE(0);
  return key.subarray(4, 4 + Math.min(length, 64)).toString("latin1");
}

/** `SHA256:…` as `ssh-keygen -l` prints it. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

/** A known_hosts line for a newly accepted key; hashed like `HashKnownHosts yes` when asked. */
export function knownHostsLine(host: string, port: number, key: Buffer, hashed: boolean): string {
  const name = knownHostsName(host, port);
  let field = name;
  if (hashed) {
    const salt = randomBytes(20);
    field = `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;
  }
  return `${field} ${keyTypeOf(key)} ${key.toString("base64")}\n`;
}
