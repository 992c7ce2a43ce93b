import { X509Certificate } from "node:crypto";
import { SideloadError } from "../errors.js";
import { readTextFile } from "../files.js";

/**
 * Read `--registry-ca FILE` (or `--ops-ca FILE`): one or more PEM certificates and nothing else, checked before
 * anything is contacted.
 */
export async function readCaOption(
  file: string,
  { option, what, server } = { option: "--registry-ca", what: "registry CA", server: "the registry" },
): Promise<string> {
  const text = await readTextFile(file, {
    what,
    hint: `give the PEM file of the CA that signed ${server}'s certificate`,
    maxBytes: 1024 * 1024,
  });
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----/g) ?? [];
  const rest = blocks.reduce((left, block) => left.replace(block, ""), text).trim();
  if (blocks.length === 0 || rest !== "") {
    throw new SideloadError("USAGE", `${option} ${file}: not PEM certificates`, {
      hint: "the file must hold one or more -----BEGIN CERTIFICATE----- … -----END CERTIFICATE----- blocks and nothing else",
    });
  }
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new SideloadError(
        "USAGE",
        `${option} ${file}: certificate ${index + 1} cannot be read (${(error as Error).message})`,
        {
          hint: `give the CA certificate as PEM, e.g. ${server}'s ca.crt`,
        },
      );
    }
  }
  return text;
}
