/**
 * The one error type of mp-sideload. Every failure the user can meet carries a stable `code`
 * (documented in the README, safe to match on in scripts), a one-line `message` naming the
 * thing it is about, and a `hint` saying what to try next.
 */

/** Exit statuses of the command-line contract. */
export const ExitStatus = {
  ok: 0,
  proxyFailed: 1,
  usage: 2,
  /** SIGINT (Ctrl-C); SIGTERM and SIGHUP give 128 + their number, as shells report them. */
  interrupted: 130,
} as const;

/** The signals that end a run cleanly, and the exit status each gives (128 + its number). */
export const signalExitStatus = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
export type HandledSignal = keyof typeof signalExitStatus;

/** Stable error codes, grouped by where they arise. */
export type ErrorCode =
  // command line and local input
  | "USAGE"
  | "FILE_NOT_FOUND"
  | "FILE_UNREADABLE"
  | "FILE_NOT_WRITABLE"
  | "DIR_NOT_FOUND"
  | "PAK_NOT_ZIP"
  | "PAK_TOO_MANY_ENTRIES"
  | "PAK_MANIFEST_INVALID"
  | "PAK_NO_ADAPTER"
  | "ADAPTER_NOT_ZIP"
  | "ADAPTER_TOO_LARGE"
  | "CONF_NOT_FOUND"
  | "CONF_INVALID"
  | "CONF_NO_DIGEST"
  | "CONF_NO_REPOSITORY"
  | "REFERENCE_INVALID"
  | "NO_DEFAULT_REGISTRY"
  | "INVENTORY_INVALID"
  | "NO_PROXIES"
  | "CREDENTIALS_MISSING"
  | "INVENTORY_TOO_LARGE"
  | "INVENTORY_VAULT"
  | "LIMIT_INVALID"
  | "REPORT_INVALID"
  | "REPORT_MISMATCH"
  | "SSH_CONFIG_INVALID"
  // VCF Operations (Suite API) as a target source
  | "OPS_UNAUTHORIZED"
  | "OPS_FORBIDDEN"
  | "OPS_UNREACHABLE"
  | "OPS_UNTRUSTED_CA"
  | "OPS_API_FAILED"
  | "OPS_INVALID"
  | "OPS_GROUP_UNKNOWN"
  | "OPS_NO_INSTANCES"
  // VCF Operations (CaSA): install
  | "CASA_FORBIDDEN"
  | "CASA_PAK_PENDING"
  | "CASA_PAK_NOT_NEWER"
  | "CASA_REFUSED"
  | "CASA_BUSY"
  | "CASA_TIMEOUT"
  | "INSTALL_NOT_READY"
  | "INSTALL_FAILED"
  | "INSTALL_KIND_UNKNOWN"
  // SSH
  | "SSH_UNREACHABLE"
  | "SSH_AUTH_FAILED"
  | "HOSTKEY_UNKNOWN"
  | "HOSTKEY_MISMATCH"
  | "HOSTKEY_REVOKED"
  | "SSH_DISCONNECTED"
  | "BECOME_FAILED"
  // engine and registry, as seen from the proxy
  | "ENGINE_UNREACHABLE"
  | "ENGINE_PERMISSION"
  | "ENGINE_RESTARTED"
  | "ENGINE_BAD_STREAM"
  | "REGISTRY_UNAUTHORIZED"
  | "REGISTRY_UNTRUSTED_CA"
  | "REGISTRY_UNREACHABLE"
  | "REGISTRY_RATE_LIMITED"
  | "MANIFEST_UNKNOWN"
  | "PLATFORM_MISSING"
  | "REGISTRY_CA_FAILED"
  | "PULL_FAILED"
  | "PULL_STALLED"
  | "PROXY_DISK_FULL"
  | "VERIFY_FAILED"
  // prune
  | "PRUNE_CONFLICT"
  | "CONFIRMATION_REQUIRED"
  | "TIMEOUT"
  | "INTERRUPTED"
  | "INTERNAL";

export interface SideloadErrorOptions {
  hint?: string | undefined;
  cause?: unknown;
  exitStatus?: number;
}

/** An expected failure: reported as one line (plus hint), never as a stack trace. */
export class SideloadError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly exitStatus: number;

  constructor(code: ErrorCode, message: string, options: SideloadErrorOptions = {}) {
    // Messages often quote untrusted text (a pak's values, an engine's reply): always one line.
    super(oneLine(message, 1000), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SideloadError";
    this.code = code;
    this.hint = options.hint === undefined ? undefined : oneLine(options.hint, 1000);
    this.exitStatus = options.exitStatus ?? ExitStatus.usage;
  }
}

/** The JSON shape of an error in reports. */
export interface ErrorInfo {
  code: ErrorCode;
  message: string;
  hint?: string;
}

/** Turn anything thrown into the report shape; unknown errors become INTERNAL. */
export function toErrorInfo(error: unknown): ErrorInfo {
  if (error instanceof SideloadError) {
    return error.hint === undefined
      ? { code: error.code, message: error.message }
      : { code: error.code, message: error.message, hint: error.hint };
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    code: "INTERNAL",
    message: oneLine(message),
    hint: "this is a bug in mp-sideload: run again with --debug and report the output",
  };
}

/** Collapse a message onto one line, so that untrusted text cannot forge extra output lines. */
export function oneLine(text: string, max = 300): string {
  // eslint-disable-next-line no-control-regex
  const flat = printable(text.replace(/[\u0000-\u001f\u007f]+/g, " ")).trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Quote untrusted text for a message: JSON-style, control characters escaped, length capped. */
export function quote(text: string, max = 80): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return printable(JSON.stringify(cut));
}

/**
 * Make untrusted text (a proxy name from an inventory, a host from a report, a path) safe to
 * print: C0 and C1 control characters, DEL and the Unicode bidirectional overrides are shown as
 * `\u001b`-style escapes, so the text can neither move the cursor, recolour or clear the
 * screen, nor forge a line of its own.
 */
export function printable(text: string): string {
  return escapeMatches(text, unprintable);
}

/** Write each character `pattern` (a global regex) matches as its `\u001b`-style escape. */
export function escapeMatches(text: string, pattern: RegExp): string {
  return text.replace(pattern, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

// eslint-disable-next-line no-control-regex
const unprintable = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `host:port` as OpenSSH prints it: IPv6 addresses in brackets (`[::1]:2222`). */
export function hostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}
