/**
 * OpenSSH's client configuration, as `ssh` itself reads it. With an `ssh` binary, `ssh -G`
 * prints OpenSSH's own evaluation for a host (Host and Match blocks, Include, first value
 * wins: all for free); without one, the `ssh-config` package parses the file (Host blocks and
 * Include; Match is not evaluated). Only values the configuration sets are returned, so that
 * mp-sideload's own defaults apply where it is silent.
 */
import { globToRegExp } from "../glob.js";
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { promisify } from "node:util";
import SSHConfig from "ssh-config";
import { SideloadError, oneLine, quote } from "../errors.js";
import { findOnPath, homeDir, readTextFileSync } from "../files.js";

/** What an ssh configuration says about one host; absent keys are not set by it. */
export interface SshHostConfig {
  hostname?: string;
  port?: number;
  user?: string;
  /** `~` and `%d %h %r %u %%` expanded. */
  identityFiles?: string[];
  identitiesOnly?: boolean;
  /** `none` disables the agent. */
  identityAgent?: string;
  /** Hops, in order, each `[user@]host[:port]`. */
  proxyJump?: string[];
  userKnownHostsFiles?: string[];
  strictHostKeyChecking?: "yes" | "no" | "ask" | "accept-new";
  connectTimeoutMs?: number;
  serverAliveIntervalMs?: number;
}

export interface SshConfigReader {
  /** `ssh -G` or `ssh-config parser`, for --debug. */
  via: string;
  file: string;
  lookup(host: string): Promise<SshHostConfig>;
}

const wanted = [
  "hostname",
  "port",
  "user",
  "identityfile",
  "identitiesonly",
  "identityagent",
  "proxyjump",
  "userknownhostsfile",
  "stricthostkeychecking",
  "connecttimeout",
  "serveraliveinterval",
  "proxycommand",
];

/** The largest ssh configuration read, and its longest line (OpenSSH's own values are short). */
const maxConfigBytes = 16 * 1024 * 1024;
const maxLineLength = 16 * 1024;

/**
 * Read an ssh configuration by the input file rules (a regular file, bounded) and refuse an
 * absurd line with its number, before `ssh -G` or the parser spends seconds on it.
 */
function readConfigText(file: string, hint: string, what = "ssh configuration"): string {
  const text = readTextFileSync(file, { what, hint, maxBytes: maxConfigBytes });
  let start = 0;
  for (let line = 1; start <= text.length; line++) {
    const end = text.indexOf("\n", start);
    const length = (end < 0 ? text.length : end) - start;
    if (length > maxLineLength) {
      throw new SideloadError(
        "SSH_CONFIG_INVALID",
        `${file}:${line}: the line is ${length} characters long, more than the ${maxLineLength} an ssh configuration line may have`,
        { hint: `fix or remove line ${line} (a paste gone wrong?), or pass --ssh-config none` },
      );
    }
    if (end < 0) break;
    start = end + 1;
  }
  return text;
}

/**
 * The reader for a run: `--ssh-config none` → none; `--ssh-config FILE` → that file (which must
 * exist); else `~/.ssh/config` when it exists.
 */
export function openSshConfig(
  option: string | undefined,
  env: NodeJS.ProcessEnv,
): SshConfigReader | undefined {
  if (option === "none") return undefined;
  const home = homeDir(env);
  const file = option ?? join(home, ".ssh", "config");
  const hint = "give an OpenSSH client configuration file, or --ssh-config none";
  let text: string;
  try {
    text = readConfigText(file, hint, option === undefined ? "ssh configuration" : "--ssh-config file");
  } catch (error) {
    // No ~/.ssh/config is the common case; one that is there but unreadable is an error.
    if (option === undefined && (error as SideloadError).code === "FILE_NOT_FOUND") return undefined;
    throw error;
  }
  // ssh.exe on Windows (OpenSSH for Windows is in System32\OpenSSH, on PATH by default).
  const ssh = findOnPath("ssh", env);
  return ssh ? sshDashG(ssh, file, home) : parsedConfig(file, text, home);
}

/** `ssh -F FILE -G HOST`, compared with the same for an empty configuration to drop defaults. */
function sshDashG(ssh: string, file: string, home: string): SshConfigReader {
  const run = async (config: string, host: string) => {
    try {
      const { stdout } = await promisify(execFile)(ssh, ["-F", config, "-G", "--", host], {
        timeout: 10_000,
        maxBuffer: 4 * maxLineLength + 1024 * 1024,
      });
      return evaluated(stdout);
    } catch (error) {
      const stderr = oneLine(String((error as { stderr?: string }).stderr ?? (error as Error).message), 300);
      throw new SideloadError("SSH_CONFIG_INVALID", `${file}: ${stderr}`, {
        hint: "fix the line ssh names (ssh -G HOST shows the same), or pass --ssh-config none",
      });
    }
  };
  let baseline: Promise<Map<string, string[]>> | undefined;
  return {
    via: `ssh -G (${ssh})`,
    file,
    async lookup(host) {
      baseline ??= run("/dev/null", "mp-sideload-baseline.invalid");
      const [values, defaults] = await Promise.all([run(file, host), baseline]);
      const set = new Map<string, string[]>();
      for (const [key, value] of values) {
        const fallback = key === "hostname" ? [host.toLowerCase()] : defaults.get(key);
        if (JSON.stringify(value) !== JSON.stringify(fallback)) set.set(key, value);
      }
      return interpret(set, home, file, host);
    },
  };
}

function evaluated(stdout: string): Map<string, string[]> {
  const values = new Map<string, string[]>();
  for (const line of stdout.split("\n")) {
    const space = line.indexOf(" ");
    if (space <= 0) continue;
    const key = line.slice(0, space);
    if (!wanted.includes(key)) continue;
    values.set(key, [...(values.get(key) ?? []), line.slice(space + 1)]);
  }
  return values;
}

/** What a run says when it reads the configuration without an ssh client (--debug, the wizard, the docs). */
export const noSshClient =
  "ssh-config parser: no ssh client (ssh, or ssh.exe on Windows) on PATH, so Match blocks, tokens other than %d %h %r %u, and defaults from /etc/ssh/ssh_config are not read";

/** The `ssh-config` package, with Include inlined, when no ssh binary is installed. */
function parsedConfig(file: string, top: string, home: string): SshConfigReader {
  const text = withIncludes(file, home, 0, top);
  let config: ReturnType<typeof SSHConfig.parse>;
  try {
    config = SSHConfig.parse(text);
  } catch (error) {
    throw new SideloadError("SSH_CONFIG_INVALID", `${file}: ${oneLine((error as Error).message)}`, {
      hint: "fix the file, or pass --ssh-config none",
    });
  }
  return {
    via: noSshClient,
    file,
    lookup(host) {
      const computed = config.compute(host);
      const set = new Map<string, string[]>();
      for (const [key, value] of Object.entries(computed)) {
        const lower = key.toLowerCase();
        if (!wanted.includes(lower)) continue;
        set.set(
          lower,
          Array.isArray(value) ? value : lower === "userknownhostsfile" ? value.split(/\s+/) : [value],
        );
      }
      // In an executor, so that a refusal (ProxyCommand) is a rejection, as with ssh -G.
      return new Promise((resolve) => resolve(interpret(set, home, file, host)));
    },
  };
}

function withIncludes(file: string, home: string, depth: number, top?: string): string {
  if (depth > 8)
    throw new SideloadError("SSH_CONFIG_INVALID", `${file}: Include nested too deeply`, {
      hint: "check for an Include loop",
    });
  const text = top ?? readConfigText(file, "check the Include lines");
  return text
    .split("\n")
    .map((line) => {
      const match = /^\s*Include\s+(.+)$/i.exec(line);
      if (!match) return line;
      return (match[1] ?? "")
        .trim()
        .split(/\s+/)
        .flatMap((pattern) => expandInclude(pattern, home))
        .map((included) => withIncludes(included, home, depth + 1))
        .join("\n");
    })
    .join("\n");
}

/** Include paths are relative to ~/.ssh; `*` and `?` in the last part are expanded. */
function expandInclude(pattern: string, home: string): string[] {
  const path = pattern.startsWith("~/")
    ? join(home, pattern.slice(2))
    : isAbsolute(pattern)
      ? pattern
      : join(home, ".ssh", pattern);
  if (!/[*?]/.test(path)) return [path];
  const dir = dirname(path);
  const re = globToRegExp(path.slice(dir.length + 1));
  try {
    return readdirSync(dir)
      .filter((name) => re.test(name))
      .sort()
      .map((name) => join(dir, name));
  } catch {
    return [];
  }
}

/** Turn OpenSSH's values into typed settings, with tokens and `~` expanded. */
function interpret(set: Map<string, string[]>, home: string, file: string, host: string): SshHostConfig {
  const one = (key: string) => set.get(key)?.[0];
  const out: SshHostConfig = {};
  const hostname = one("hostname");
  if (hostname !== undefined) out.hostname = hostname;
  const port = one("port");
  if (port !== undefined) {
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
      throw new SideloadError("SSH_CONFIG_INVALID", `${file}: Port ${quote(port)} is not from 1 to 65535`, {
        hint: "fix the Port line",
      });
    }
    out.port = Number(port);
  }
  const user = one("user");
  if (user !== undefined) out.user = user;
  const tokens = (text: string) =>
    text
      .replace(/^~(?=\/|$)/, home)
      .replace(/%(.)/g, (_m, c: string) =>
        c === "d"
          ? home
          : c === "h"
            ? (out.hostname ?? "%h")
            : c === "r"
              ? (out.user ?? "%r")
              : c === "u"
                ? userInfo().username
                : c === "%"
                  ? "%"
                  : `%${c}`,
      );
  const identities = set.get("identityfile");
  if (identities) out.identityFiles = identities.map((f) => resolve(tokens(unquote(f))));
  const only = one("identitiesonly");
  if (only !== undefined) out.identitiesOnly = only.toLowerCase() === "yes";
  const agent = one("identityagent");
  if (agent !== undefined)
    out.identityAgent = agent === "none" || agent === "SSH_AUTH_SOCK" ? agent : tokens(unquote(agent));
  const command = one("proxycommand");
  if (command !== undefined && command.toLowerCase() !== "none") {
    // Connecting directly where ssh would run a command (a corporate access proxy, `ssh -W`
    // through a bastion) could reach another machine, or none: refused, never ignored.
    throw new SideloadError(
      "SSH_CONFIG_INVALID",
      `${file}: ProxyCommand ${quote(oneLine(command, 200))} applies to ${quote(host)}; mp-sideload does not run ProxyCommand`,
      {
        hint: "write the route as ProxyJump (or --jump user@bastion), which mp-sideload follows with the host key checked at every hop; or pass --ssh-config none to connect directly",
      },
    );
  }
  const jump = one("proxyjump");
  if (jump !== undefined && jump.toLowerCase() !== "none")
    out.proxyJump = jump
      .split(",")
      .map((h) => h.trim())
      .filter(Boolean);
  const knownHosts = set.get("userknownhostsfile");
  if (knownHosts)
    out.userKnownHostsFiles = knownHosts
      .flatMap((v) => v.split(/\s+/))
      .filter(Boolean)
      .map((f) => tokens(unquote(f)));
  const strict = one("stricthostkeychecking")?.toLowerCase();
  if (strict !== undefined) {
    out.strictHostKeyChecking =
      strict === "accept-new"
        ? "accept-new"
        : strict === "no" || strict === "off"
          ? "no"
          : strict === "ask"
            ? "ask"
            : "yes";
  }
  const seconds = (key: string) => {
    const value = one(key);
    return value !== undefined && /^\d+$/.test(value) && Number(value) > 0 ? Number(value) * 1000 : undefined;
  };
  const connectTimeout = seconds("connecttimeout");
  if (connectTimeout !== undefined) out.connectTimeoutMs = connectTimeout;
  const alive = seconds("serveraliveinterval");
  if (alive !== undefined) out.serverAliveIntervalMs = alive;
  return out;
}

function unquote(text: string): string {
  return text.replace(/^"(.*)"$/, "$1");
}
