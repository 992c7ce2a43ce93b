import { SideloadError } from "../errors.js";
import { registerSecret } from "./redact.js";

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface CredentialSources {
  /** --registry-user */
  user?: string | undefined;
  /** --registry-password-stdin: read the password from stdin. */
  passwordStdin: boolean;
  env: NodeJS.ProcessEnv;
  readStdin: () => Promise<string>;
  /** Ask in the terminal; absent when there is no terminal to ask in. */
  ask?: { user: () => Promise<string>; password: (user: string) => Promise<string> } | undefined;
}

/**
 * Find the registry credentials: the user from --registry-user, else MP_SIDELOAD_REGISTRY_USER,
 * else asked; the password from stdin (--registry-password-stdin), else
 * MP_SIDELOAD_REGISTRY_PASSWORD, else asked. Never from a command-line argument: argv is
 * visible to every user of the machine. With no terminal and a part missing: CREDENTIALS_MISSING.
 */
export async function resolveRegistryCredentials(
  sources: CredentialSources,
  registry: string,
): Promise<RegistryCredentials> {
  let password: string | undefined;
  if (sources.passwordStdin) {
    password = (await sources.readStdin()).replace(/\r?\n$/, "");
    if (password === "") {
      throw new SideloadError("CREDENTIALS_MISSING", "--registry-password-stdin: stdin was empty", {
        hint: "pipe the password in, e.g. `vault read -field=password … | mp-sideload pull … --registry-password-stdin`",
      });
    }
  }
  password ??= sources.env.MP_SIDELOAD_REGISTRY_PASSWORD || undefined;
  registerSecret(password);
  let username = sources.user ?? (sources.env.MP_SIDELOAD_REGISTRY_USER || undefined);
  if (username === undefined || password === undefined) {
    if (!sources.ask) {
      throw new SideloadError(
        "CREDENTIALS_MISSING",
        `no ${username === undefined ? "user" : "password"} for registry ${registry}, and no terminal to ask in`,
        {
          hint: "set MP_SIDELOAD_REGISTRY_USER and MP_SIDELOAD_REGISTRY_PASSWORD, or pass --registry-user and --registry-password-stdin",
        },
      );
    }
    username ??= await sources.ask.user();
    password ??= await sources.ask.password(username);
    registerSecret(password);
  }
  return { username, password };
}
