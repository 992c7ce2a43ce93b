/**
 * The relay's throwaway TLS certificate: a P-256 key and a self-signed X.509 v3 certificate made
 * with node:crypto alone (no `openssl` child process: the tool runs on macOS and Windows too).
 * The engine does not verify it (a registry resolving into 127.0.0.0/8 is insecure to moby); it
 * exists because the engine speaks TLS first and falls back to plain HTTP only on failure.
 */
import { X509Certificate, generateKeyPairSync, randomBytes, sign } from "node:crypto";

/** A key and its certificate, PEM. */
export interface ThrowawayCert {
  key: string;
  cert: string;
}

/** DER: a tag, its length, its content. */
function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  const length =
    n < 0x80
      ? Buffer.from([n])
      : n < 0x100
        ? Buffer.from([0x81, n])
        : n < 0x10000
          ? Buffer.from([0x82, n >> 8, n & 0xff])
          : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

const sequence = (...content: Buffer[]) => der(0x30, ...content);

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split(".").map(Number);
  const bytes = [40 * a + b];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let v = arc >> 7; v > 0; v >>= 7) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}

/** UTCTime, YYMMDDHHMMSSZ (RFC 5280 until 2049). */
function utcTime(date: Date): Buffer {
  const iso = date.toISOString(); // 2026-12-03T11:55:15.000Z
  const text =
    iso.slice(2, 4) +
    iso.slice(5, 7) +
    iso.slice(8, 10) +
    iso.slice(11, 13) +
    iso.slice(14, 16) +
    iso.slice(17, 19);
  return der(0x17, Buffer.from(`${text}Z`, "ascii"));
}

function name(commonName: string): Buffer {
  return sequence(der(0x31, sequence(oid("2.5.4.3"), der(0x0c, Buffer.from(commonName, "utf8")))));
}

/** subjectAltName: DNS names, and IPv4 literals as iPAddress. */
function altNames(hosts: string[]): Buffer {
  const entries = hosts.map((host) =>
    /^\d+\.\d+\.\d+\.\d+$/.test(host)
      ? der(0x87, Buffer.from(host.split(".").map(Number)))
      : der(0x82, Buffer.from(host, "ascii")),
  );
  return sequence(oid("2.5.29.17"), der(0x04, sequence(...entries)));
}

/**
 * A positive DER INTEGER of the random bytes' length: the top bit cleared (else negative) and
 * the next set (a leading 0x00 before a byte under 0x80 is padding DER forbids, which OpenSSL
 * refuses as "illegal padding": one run in 256 before this).
 */
export function serialNumber(bytes: Buffer): Buffer {
  const serial = Buffer.from(bytes);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  return serial;
}

/**
 * A new key and a certificate for `hosts`, valid from an hour ago (clock skew) for a day: it
 * lives only as long as one run, in memory.
 */
export function makeThrowawayCert(
  hosts: string[],
  now = new Date(),
  random: (size: number) => Buffer = randomBytes,
): ThrowawayCert {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const ecdsaWithSha256 = sequence(oid("1.2.840.10045.4.3.2"));
  const serial = serialNumber(random(16));
  const issuer = name("mp-sideload relay");
  const tbs = sequence(
    der(0xa0, der(0x02, Buffer.from([2]))), // v3
    der(0x02, serial),
    ecdsaWithSha256,
    issuer,
    sequence(utcTime(new Date(now.getTime() - 3600_000)), utcTime(new Date(now.getTime() + 86_400_000))),
    issuer,
    publicKey.export({ type: "spki", format: "der" }),
    der(0xa3, sequence(altNames([...new Set([...hosts, "127.0.0.1"])]))),
  );
  const signature = sign("sha256", tbs, privateKey); // DER ECDSA-Sig-Value
  const certificate = sequence(tbs, ecdsaWithSha256, der(0x03, Buffer.from([0]), signature));
  const body = certificate.toString("base64").replace(/.{64}/g, "$&\n").trimEnd();
  const cert = `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
  // Parsed back once: a certificate Node cannot read must fail here, not in a TLS handshake.
  new X509Certificate(cert);
  return { key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), cert };
}
