/**
 * Registry credentials from where users already keep them, resolved per registry host[:port]
 * in one documented order (first that has an answer wins):
 *
 * 1. `--registry-user` + `--registry-password-stdin`
 * 2. `MP_SIDELOAD_REGISTRY_USER` + `MP_SIDELOAD_REGISTRY_PASSWORD`
 * 3. `--registry-credentials-helper PATH` (`PATH get IMAGE` → JSON; `--refresh` after a refusal)
 * 4. `--registry-password-command CMD` with `--registry-user` (or the environment's user)
 * 5. `--registry-credentials FILE` (TOML, a table per registry)
 * 6. the Docker config (`credHelpers`, `credsStore`, `auths`), as the docker CLI reads it
 * 7. in a terminal only, a masked prompt
 *
 * Never from a command-line argument: argv is visible to every user of the machine.
 */
import { SideloadError } from "../errors.js";
import type { RegistryAuth } from "./registry-auth.js";
import { readCredentialsFile, type CredentialsFileEntry } from "./credentials-file.js";
import { authFromDockerConfig } from "./docker-config.js";
import { askHelperProgram, runPasswordCommand } from "./programs.js";
import { registerSecret } from "../redact.js";

export interface CredentialOptions {
  /** --registry-user */
  user?: string | undefined;
  /** --registry-password-stdin */
  passwordStdin: boolean;
  /** --registry-credentials-helper */
  helper?: string | undefined;
  /** --registry-password-command */
  passwordCommand?: string | undefined;
  /** --registry-credentials */
  credentialsFile?: string | undefined;
  env: NodeJS.ProcessEnv;
  readStdin: () => Promise<string>;
  /** Told of a problem that does not stop the run (a credentials file others may read). */
  warn?: (message: string) => void;
  /** Ask in the terminal; absent when there is no terminal to ask in. */
  ask?:
    | {
        user: (registry: string) => Promise<string>;
        password: (registry: string, user: string) => Promise<string>;
      }
    | undefined;
}

/** The credentials for one registry, and where they came from (never the secret itself). */
export interface ResolvedAuth {
  registry: string;
  /** e.g. `environment`, `helper(/usr/local/bin/creds)`, `docker-config:credHelpers(ecr-login)`. */
  source: string;
  auth: RegistryAuth;
  /** Ask the source for fresh credentials after a refusal (the helper's `--refresh`). */
  refresh?: (() => Promise<RegistryAuth>) | undefined;
}

/** No source has credentials for `registry`, and there is no terminal to ask in. */
export function credentialsMissing(registry: string): SideloadError {
  return new SideloadError(
    "CREDENTIALS_MISSING",
    `no credentials for registry ${registry}, and no terminal to ask in`,
    {
      hint: "docker login to it on this machine, or set MP_SIDELOAD_REGISTRY_USER and MP_SIDELOAD_REGISTRY_PASSWORD, or pass --registry-credentials FILE, --registry-credentials-helper or --registry-password-command (see the README)",
    },
  );
}

/** Resolves credentials for each registry of a run; stdin and the credentials file are read once. */
export class CredentialResolver {
  private stdinPassword: Promise<string> | undefined;
  private fileEntries: Promise<CredentialsFileEntry[]> | undefined;

  constructor(private readonly options: CredentialOptions) {}

  /** The user given explicitly: --registry-user, else MP_SIDELOAD_REGISTRY_USER. */
  private get explicitUser(): string | undefined {
    return this.options.user ?? (this.options.env.MP_SIDELOAD_REGISTRY_USER || undefined);
  }

  /**
   * Credentials for `registry` (host[:port] exactly as in the pak); `image` is the reference a
   * helper program is asked about. CREDENTIALS_MISSING when no source has any and there is no
   * terminal to ask in.
   */
  async resolve(registry: string, image: string): Promise<ResolvedAuth> {
    const found = await this.find(registry, image);
    if (found) return found;
    throw credentialsMissing(registry);
  }

  /** Like `resolve`, but undefined (rather than asking or failing) when no source has any. */
  async find(registry: string, image: string, prompt = true): Promise<ResolvedAuth | undefined> {
    const o = this.options;
    const user = this.explicitUser;
    if (o.passwordStdin) {
      const password = await this.readStdinPassword();
      if (user === undefined) return this.askUser(registry, password, "--registry-password-stdin", prompt);
      return {
        registry,
        source: "--registry-password-stdin",
        auth: { username: user, password, serveraddress: registry },
      };
    }
    const envPassword = o.env.MP_SIDELOAD_REGISTRY_PASSWORD || undefined;
    if (envPassword !== undefined) {
      registerSecret(envPassword);
      if (user === undefined) return this.askUser(registry, envPassword, "environment", prompt);
      return {
        registry,
        source: "environment",
        auth: { username: user, password: envPassword, serveraddress: registry },
      };
    }
    if (o.helper !== undefined) {
      const helper = o.helper;
      return {
        registry,
        source: `helper(${helper})`,
        auth: await askHelperProgram(helper, image, registry, false, o.env),
        refresh: () => askHelperProgram(helper, image, registry, true, o.env),
      };
    }
    if (o.passwordCommand !== undefined) {
      if (user === undefined) {
        throw new SideloadError("USAGE", "--registry-password-command needs the registry user", {
          hint: "add --registry-user (e.g. AWS for ECR, oauth2accesstoken for GCR, 00000000-0000-0000-0000-000000000000 for ACR)",
        });
      }
      const command = o.passwordCommand;
      const password = await runPasswordCommand(command, "--registry-password-command", o.env);
      return {
        registry,
        source: "command",
        auth: { username: user, password, serveraddress: registry },
        // Tokens expire: a refusal is worth one fresh token.
        refresh: async () => ({
          username: user,
          password: await runPasswordCommand(command, "--registry-password-command", o.env),
          serveraddress: registry,
        }),
      };
    }
    if (o.credentialsFile !== undefined) {
      const file = o.credentialsFile;
      this.fileEntries ??= readCredentialsFile(file, (m) => o.warn?.(m));
      const entry = (await this.fileEntries).find((e) => e.registry === registry);
      if (entry) {
        const what = `${file}: [${entry.table}] passwordCommand`;
        const password =
          entry.password ?? (await runPasswordCommand(entry.passwordCommand ?? "", what, o.env));
        registerSecret(password);
        return {
          registry,
          source: `file(${file}:${entry.table})`,
          auth: { username: entry.username, password, serveraddress: registry },
          ...(entry.passwordCommand === undefined
            ? {}
            : {
                refresh: async () => ({
                  username: entry.username,
                  password: await runPasswordCommand(entry.passwordCommand ?? "", what, o.env),
                  serveraddress: registry,
                }),
              }),
        };
      }
    }
    const docker = await authFromDockerConfig(registry, o.env);
    if (docker) return { registry, ...docker };
    if (prompt && o.ask) {
      const username = user ?? (await o.ask.user(registry));
      const password = await o.ask.password(registry, username);
      registerSecret(password);
      return { registry, source: "prompt", auth: { username, password, serveraddress: registry } };
    }
    return undefined;
  }

  private async askUser(
    registry: string,
    password: string,
    source: string,
    prompt: boolean,
  ): Promise<ResolvedAuth | undefined> {
    if (!prompt || !this.options.ask) {
      throw new SideloadError(
        "CREDENTIALS_MISSING",
        `a password for registry ${registry} came from ${source}, but no user`,
        {
          hint: "pass --registry-user or set MP_SIDELOAD_REGISTRY_USER",
        },
      );
    }
    const username = await this.options.ask.user(registry);
    return { registry, source, auth: { username, password, serveraddress: registry } };
  }

  private readStdinPassword(): Promise<string> {
    this.stdinPassword ??= this.options.readStdin().then((text) => {
      const password = text.replace(/\r?\n$/, "");
      if (password === "") {
        throw new SideloadError("CREDENTIALS_MISSING", "--registry-password-stdin: stdin was empty", {
          hint: "pipe the password in, e.g. `vault read -field=password … | mp-sideload pull … --registry-password-stdin`",
        });
      }
      registerSecret(password);
      return password;
    });
    return this.stdinPassword;
  }
}
