/**
 * The registry credential options shared by `pull` and `check-registry`, and the resolver they
 * build. No option takes a secret: argv is visible to every user of the machine.
 */
import { CredentialResolver } from "../credentials/resolve.js";
import { refuseSecretFromTerminal } from "./args.js";
import type { Terminal } from "./terminal.js";

export const credentialOptionSpecs = {
  "registry-user": { type: "string" },
  "registry-password-stdin": { type: "boolean" },
  "registry-credentials-helper": { type: "string" },
  "registry-password-command": { type: "string" },
  "registry-credentials": { type: "string" },
} as const;

export const credentialOptionsHelp = `Registry credentials (never as arguments), first that answers wins:
  --registry-user USER                 with --registry-password-stdin, or MP_SIDELOAD_REGISTRY_USER
  --registry-password-stdin            read the password from stdin; or MP_SIDELOAD_REGISTRY_PASSWORD
  --registry-credentials-helper PATH   PATH get IMAGE prints {"username","password"}; --refresh after a refusal
  --registry-password-command CMD      CMD prints a token (e.g. 'aws ecr get-login-password'); with --registry-user
  --registry-credentials FILE          TOML, one table per registry (registry, username, password|passwordCommand)
  then ~/.docker/config.json (credHelpers, credsStore, auths) as docker reads it; then a prompt in a terminal
`;

/** The credential flags as parsed. */
export interface CredentialValues {
  "registry-user"?: string | undefined;
  "registry-password-stdin"?: boolean | undefined;
  "registry-credentials-helper"?: string | undefined;
  "registry-password-command"?: string | undefined;
  "registry-credentials"?: string | undefined;
}

/** The resolver for a run: prompts only in a terminal (`ask` given). */
export async function credentialResolver(
  values: CredentialValues,
  terminal: Terminal,
  /** Wraps each question (the wizard stops its spinner meanwhile). */
  around: <T>(question: () => Promise<T>) => Promise<T> = (question) => question(),
): Promise<CredentialResolver> {
  if (values["registry-password-stdin"]) refuseSecretFromTerminal(["--registry-password-stdin"], terminal);
  const ask = terminal.interactive ? (await import("./prompts.js")).prompts : undefined;
  return new CredentialResolver({
    user: values["registry-user"],
    passwordStdin: values["registry-password-stdin"] ?? false,
    helper: values["registry-credentials-helper"],
    passwordCommand: values["registry-password-command"],
    credentialsFile: values["registry-credentials"],
    env: terminal.env,
    readStdin: () => terminal.readStdin(),
    warn: (message) => terminal.err(`mp-sideload: warning: ${message}\n`),
    ask: ask && {
      user: (registry) => around(() => ask.registryUser(registry)),
      password: (registry, user) => around(() => ask.registryPassword(registry, user)),
    },
  });
}
