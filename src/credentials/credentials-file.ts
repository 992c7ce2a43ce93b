/**
 * `--registry-credentials FILE`: TOML, one table per registry.
 *
 * ```toml
 * [harbor]
 * registry = "harbor.example.com:8443"
 * username = "robot$ci"
 * password = "…"
 *
 * [ecr]
 * registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
 * username = "AWS"
 * passwordCommand = "aws ecr get-login-password --region eu-west-1"
 * ```
 */
import { stat } from "node:fs/promises";
import { parse, TomlError } from "smol-toml";
import { SideloadError, quote } from "../errors.js";
import { readTextFile } from "../files.js";

export interface CredentialsFileEntry {
  /** The table's name, for messages and the credential source. */
  table: string;
  registry: string;
  username: string;
  password?: string | undefined;
  passwordCommand?: string | undefined;
}

const keys = ["registry", "username", "password", "passwordCommand"];
const hint =
  "see the README: one table per registry with registry, username, and password or passwordCommand";

/**
 * Read the file; `warn` is told when others than its owner may read it. On Windows a file's mode
 * says nothing about who may read it (its ACL does), so `warn` is told that once instead.
 */
export async function readCredentialsFile(
  file: string,
  warn: (message: string) => void,
  platform: NodeJS.Platform = process.platform,
): Promise<CredentialsFileEntry[]> {
  const text = await readTextFile(file, {
    what: "credentials file",
    hint: "check --registry-credentials",
    maxBytes: 1024 * 1024,
  });
  const mode = (await stat(file)).mode;
  if (platform === "win32") {
    warn(
      `${file}: on Windows its permissions cannot be checked from its mode; make sure only you can read it (Properties → Security)`,
    );
  } else if ((mode & 0o077) !== 0) {
    warn(
      `${file} can be read by others than its owner (mode ${(mode & 0o777).toString(8)}): chmod 600 ${file}`,
    );
  }
  return parseCredentialsFile(text, file);
}

/** Parse the TOML text; every table must be complete and name a registry once. */
export function parseCredentialsFile(text: string, file: string): CredentialsFileEntry[] {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text);
  } catch (error) {
    const where = error instanceof TomlError ? ` line ${error.line}` : "";
    throw new SideloadError(
      "CREDENTIALS_MISSING",
      `${file}${where}: not valid TOML (${(error as Error).message.split("\n")[0] ?? ""})`,
      { hint },
    );
  }
  const entries: CredentialsFileEntry[] = [];
  for (const [table, value] of Object.entries(doc)) {
    const where = `${file}: [${table}]`;
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new SideloadError("CREDENTIALS_MISSING", `${where} is not a table`, { hint });
    }
    const entry = value as Record<string, unknown>;
    for (const key of Object.keys(entry)) {
      if (!keys.includes(key))
        throw new SideloadError("CREDENTIALS_MISSING", `${where}: unknown key ${quote(key)}`, { hint });
    }
    const text = (key: string): string | undefined => {
      const v = entry[key];
      if (v === undefined) return undefined;
      if (typeof v !== "string" || v === "")
        throw new SideloadError("CREDENTIALS_MISSING", `${where}: ${key} must be a non-empty string`, {
          hint,
        });
      return v;
    };
    const registry = text("registry");
    const username = text("username");
    const password = text("password");
    const passwordCommand = text("passwordCommand");
    if (registry === undefined || username === undefined) {
      throw new SideloadError("CREDENTIALS_MISSING", `${where}: needs registry and username`, { hint });
    }
    if ((password === undefined) === (passwordCommand === undefined)) {
      throw new SideloadError("CREDENTIALS_MISSING", `${where}: give either password or passwordCommand`, {
        hint,
      });
    }
    if (entries.some((e) => e.registry === registry)) {
      throw new SideloadError(
        "CREDENTIALS_MISSING",
        `${where}: registry ${quote(registry)} has a table already`,
        { hint },
      );
    }
    entries.push({ table, registry, username, password, passwordCommand });
  }
  return entries;
}
