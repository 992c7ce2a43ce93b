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
  | "REGISTRY_BAD_ANSWER"
  | "REGISTRY_RATE_LIMITED"
  | "MANIFEST_UNKNOWN"
  | "PLATFORM_MISSING"
  | "REGISTRY_CA_FAILED"
  | "PULL_FAILED"
  | "PULL_STALLED"
  | "PROXY_DISK_FULL"
  | "VERIFY_FAILED"
  // the relay (pull --relay)
  | "RELAY_NEEDS_ROOT"
  | "RELAY_PORT_IN_USE"
  | "RELAY_FORWARD_REFUSED"
  | "RELAY_ENGINE_UNSUITABLE"
  | "RELAY_ENGINE_PROXY"
  | "RELAY_HOSTS_FAILED"
  // prune
  | "PRUNE_CONFLICT"
  | "CONFIRMATION_REQUIRED"
  | "TIMEOUT"
  | "INTERRUPTED"
  | "INTERNAL";

export interface SideloadErrorOptions {
  hint?: string | undefined;
  cause?: unknown;
  /** INTERRUPTED: the signal that ended the run (its exit status is 128 + its number). */
  signal?: HandledSignal | undefined;
}

/** An expected failure: reported as one line (plus hint), never as a stack trace. */
export class SideloadError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly signal: HandledSignal | undefined;

  constructor(code: ErrorCode, message: string, options: SideloadErrorOptions = {}) {
    // Messages often quote untrusted text (a pak's values, an engine's reply): always one line.
    super(oneLine(message, 1000), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SideloadError";
    this.code = code;
    this.hint = options.hint === undefined ? undefined : oneLine(options.hint, 1000);
    this.signal = options.signal;
  }

  /** The exit status if this error ended a run that changed no proxy: `exitStatusOf`'s answer. */
  get exitStatus(): number {
    return statusOfCode(this);
  }
}

/**
 * What each code says about a run, which decides the exit status of a run it ends (README
 * "Exit codes"): `input`, a usage or input error found before anything was changed (2);
 * `proxy`, a failure of a proxy (1); `interrupted`, by a signal (128 + its number); `internal`,
 * a bug (2, or 1 once a proxy may have been changed). A new code needs its entry here.
 */
export const errorKinds: Record<ErrorCode, "input" | "proxy" | "interrupted" | "internal"> = {
  USAGE: "input",
  FILE_NOT_FOUND: "input",
  FILE_UNREADABLE: "input",
  FILE_NOT_WRITABLE: "input",
  DIR_NOT_FOUND: "input",
  PAK_NOT_ZIP: "input",
  PAK_TOO_MANY_ENTRIES: "input",
  PAK_MANIFEST_INVALID: "input",
  PAK_NO_ADAPTER: "input",
  ADAPTER_NOT_ZIP: "input",
  ADAPTER_TOO_LARGE: "input",
  CONF_NOT_FOUND: "input",
  CONF_INVALID: "input",
  CONF_NO_DIGEST: "input",
  CONF_NO_REPOSITORY: "input",
  REFERENCE_INVALID: "input",
  NO_DEFAULT_REGISTRY: "input",
  INVENTORY_INVALID: "input",
  NO_PROXIES: "input",
  CREDENTIALS_MISSING: "input",
  INVENTORY_TOO_LARGE: "input",
  INVENTORY_VAULT: "input",
  LIMIT_INVALID: "input",
  REPORT_INVALID: "input",
  REPORT_MISMATCH: "input",
  SSH_CONFIG_INVALID: "input",
  OPS_UNAUTHORIZED: "input",
  OPS_FORBIDDEN: "input",
  OPS_UNREACHABLE: "input",
  OPS_UNTRUSTED_CA: "input",
  OPS_API_FAILED: "input",
  OPS_INVALID: "input",
  OPS_GROUP_UNKNOWN: "input",
  OPS_NO_INSTANCES: "input",
  SSH_UNREACHABLE: "proxy",
  SSH_AUTH_FAILED: "proxy",
  HOSTKEY_UNKNOWN: "proxy",
  HOSTKEY_MISMATCH: "proxy",
  HOSTKEY_REVOKED: "proxy",
  SSH_DISCONNECTED: "proxy",
  BECOME_FAILED: "proxy",
  ENGINE_UNREACHABLE: "proxy",
  ENGINE_PERMISSION: "proxy",
  ENGINE_RESTARTED: "proxy",
  ENGINE_BAD_STREAM: "proxy",
  // The registry's verdicts end a run only from the check on this machine, which stops it
  // before any credential reached a proxy; on a proxy they are a row of the report.
  REGISTRY_UNAUTHORIZED: "input",
  REGISTRY_UNTRUSTED_CA: "input",
  REGISTRY_UNREACHABLE: "input",
  REGISTRY_BAD_ANSWER: "input",
  REGISTRY_RATE_LIMITED: "input",
  MANIFEST_UNKNOWN: "input",
  PLATFORM_MISSING: "input",
  REGISTRY_CA_FAILED: "proxy",
  PULL_FAILED: "proxy",
  PULL_STALLED: "proxy",
  PROXY_DISK_FULL: "proxy",
  VERIFY_FAILED: "proxy",
  PRUNE_CONFLICT: "proxy",
  CONFIRMATION_REQUIRED: "input",
  TIMEOUT: "proxy",
  // Before the first upload (the account checked before any proxy): nothing changed, exit 2.
  CASA_FORBIDDEN: "input",
  // CaSA's refusals and an install's end come after the sideloads: a row of install's report,
  // whose outcome exits 1; should one end a run, it is a failure too, never "nothing changed".
  CASA_PAK_PENDING: "proxy",
  CASA_PAK_NOT_NEWER: "proxy",
  CASA_REFUSED: "proxy",
  CASA_BUSY: "proxy",
  CASA_TIMEOUT: "proxy",
  INSTALL_NOT_READY: "proxy",
  INSTALL_FAILED: "proxy",
  INSTALL_KIND_UNKNOWN: "proxy",
  INTERRUPTED: "interrupted",
  RELAY_NEEDS_ROOT: "proxy",
  RELAY_PORT_IN_USE: "proxy",
  RELAY_FORWARD_REFUSED: "proxy",
  RELAY_ENGINE_UNSUITABLE: "proxy",
  RELAY_ENGINE_PROXY: "proxy",
  RELAY_HOSTS_FAILED: "proxy",
  INTERNAL: "internal",
};

/** What a run had done when an error ended it. */
export interface RunState {
  /** A proxy may have been changed (a credential or a change reached it): never exit 2 then. */
  proxiesChanged: boolean;
}

/**
 * The exit status of a run that `error` ended: the one table (`errorKinds`) read for the error's
 * code (anything not a SideloadError is INTERNAL). Exit 2 says "nothing was changed", so once a
 * proxy may have been changed an error that would exit 2 exits 1 instead.
 */
export function exitStatusOf(error: unknown, run: RunState = { proxiesChanged: false }): number {
  const status = error instanceof SideloadError ? error.exitStatus : statusOfCode({ code: "INTERNAL" });
  return status === ExitStatus.usage && run.proxiesChanged ? ExitStatus.proxyFailed : status;
}

function statusOfCode(error: { code: ErrorCode; signal?: HandledSignal | undefined }): number {
  switch (errorKinds[error.code]) {
    case "proxy":
      return ExitStatus.proxyFailed;
    case "interrupted":
      return signalExitStatus[error.signal ?? "SIGINT"];
    default:
      return ExitStatus.usage;
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
