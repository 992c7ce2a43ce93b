/**
 * YAML text to a value, with the bounds every inventory file gets: a token count before the
 * parser builds its tree, so a huge file cannot exhaust memory. Ansible's files are read as
 * PyYAML reads them (YAML 1.1: `0x16` is 22, `yes` is true; Ansible's `!vault` and `!unsafe`
 * tags known); mp-sideload's own format keeps every scalar a string.
 */
import { Lexer, parse as parseYaml } from "yaml";
import { SideloadError } from "../errors.js";

/** How much YAML one file may hold. */
export const yamlLimits = {
  /**
   * YAML tokens (scalars, indicators, spaces). The YAML parser keeps about 300 bytes per token,
   * so this bounds its memory near 250 MB; 10,000 proxies in block style take about 300,000.
   */
  maxYamlTokens: 600_000,
};

/** An inline `!vault` value: it cannot be read without the vault password. */
export class VaultedValue {
  toString(): string {
    return "!vault";
  }
}

/** Refuse text of more YAML tokens than the parser can hold in bounded memory. */
export function checkYamlSize(text: string, label: string): void {
  let tokens = 0;
  for (const _ of new Lexer().lex(text)) {
    if (++tokens > yamlLimits.maxYamlTokens) {
      throw new SideloadError(
        "INVENTORY_TOO_LARGE",
        `${label}: more than ${yamlLimits.maxYamlTokens.toLocaleString("en")} YAML elements`,
        { hint: "split the inventory, or select a part of it with --limit in separate runs" },
      );
    }
  }
}

/** Parse YAML as mp-sideload's native format (failsafe) or as Ansible does (YAML 1.1). */
export function parseYamlText(text: string, label: string, flavour: "native" | "ansible"): unknown {
  checkYamlSize(text, label);
  try {
    return flavour === "native"
      ? // The failsafe schema keeps every scalar a string, so a port is read from its digits
        // only: YAML's own integers would turn `0x16` into 22 and `1e1` into 10.
        parseYaml(text, { maxAliasCount: 100, schema: "failsafe" })
      : parseYaml(text, {
          maxAliasCount: 100,
          version: "1.1",
          // PyYAML (and so Ansible) keeps the last of duplicate keys, with a warning.
          uniqueKeys: false,
          customTags: [
            { tag: "!vault", resolve: () => new VaultedValue() },
            { tag: "!unsafe", resolve: (value: string) => value },
          ],
        });
  } catch (error) {
    throw new SideloadError("INVENTORY_INVALID", `${label}: not valid YAML (${(error as Error).message})`, {
      hint: "see the README for the inventory format",
    });
  }
}
