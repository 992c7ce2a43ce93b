/** Registry credentials as the Docker Engine API takes them. Never logged, never on a command line. */
export interface RegistryAuth {
  username: string;
  password: string;
  /** An OAuth refresh token (docker config `identitytoken`), used instead of the password. */
  identitytoken?: string | undefined;
  /** The registry host[:port] exactly as in the reference. */
  serveraddress: string;
}
