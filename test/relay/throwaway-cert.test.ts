import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { makeThrowawayCert, serialNumber } from "../../src/relay/throwaway-cert.js";

describe("the throwaway certificate", () => {
  // Every leading byte a random source can give: 0x00 and 0x80 once made a serial OpenSSL refused.
  it.each([0x00, 0x01, 0x3f, 0x7f, 0x80, 0xbf, 0xff].map((first) => ({ first, hex: first.toString(16) })))(
    "is readable whatever the serial's first random byte (0x$hex)",
    ({ first }) => {
      const random = (size: number) => {
        const bytes = Buffer.alloc(size, 0x05);
        bytes[0] = first;
        return bytes;
      };
      const { cert } = makeThrowawayCert(["registry.example.test"], new Date(), random);
      const parsed = new X509Certificate(cert);
      expect(parsed.serialNumber).toMatch(/^[4-7][0-9A-F]{31}$/);
      expect(parsed.subjectAltName).toContain("DNS:registry.example.test");
      expect(parsed.subjectAltName).toContain("IP Address:127.0.0.1");
    },
  );

  it("keeps the serial positive, its length, and its first byte non-zero", () => {
    for (const first of [0x00, 0x80, 0xff]) {
      const serial = serialNumber(Buffer.from([first, 0, 0]));
      expect(serial.length).toBe(3);
      expect(serial[0]! & 0x80).toBe(0);
      expect(serial[0]! & 0x40).toBe(0x40);
    }
  });
});
