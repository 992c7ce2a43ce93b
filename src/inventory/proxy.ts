import { SideloadError, hostPort, quote } from "../errors.js";
import type { SshReach } from "../host-reach.js";

/** One cloud proxy to prepare, with everything needed to reach it. */
export interface Proxy extends SshReach {
  /** The engine's unix socket on the proxy, when it is not the proxy's DOCKER_HOST or the default. */
  dockerSocket?: string | undefined;
  groups: string[];
  /** Jump hosts as written (`[user@]host[:port]`, inventory, --jump or ssh config), in order. */
  jumpSpecs?: string[] | undefined;
  /** The jump hosts, resolved (ssh config applied to each). */
  jump?: Hop[] | undefined;
  /** Fields that hold mp-sideload's defaults, which the ssh configuration may replace. */
  defaulted?: ("user" | "port")[] | undefined;
  /** Only these of the run's image references (`--only-failed`: what an earlier run left unfinished). */
  references?: string[] | undefined;
  /** The SSH password from an Ansible inventory (`ansible_password`). A secret: never printed. */
  password?: string | undefined;
  /** Privilege escalation on the proxy (native `become`, Ansible's `ansible_become*`). */
  become?: Become | undefined;
  /** From VCF Operations: the collector's state there (`UP`, `DOWN`); a DOWN proxy is still a target. */
  opsState?: string | undefined;
  /** From VCF Operations: why it is a target (`east-group holds LabAdapter instance lab-1`). */
  reason?: string | undefined;
}

/**
 * How to become root (or `user`) on a proxy. Present when the inventory asks for it; `enabled`
 * is false when only its settings are given (a later `--become` turns it on).
 */
export interface Become {
  enabled: boolean;
  /** Only sudo: other methods are refused when the inventory is read. */
  method: "sudo";
  user?: string | undefined;
  /** The sudo password (`ansible_become_password`). A secret: never printed. */
  password?: string | undefined;
}

/** A jump host on the way to a proxy. */
export interface Hop {
  /** As written (an ssh config alias, or the host). */
  name: string;
  host: string;
  port: number;
  user: string;
  identityFiles?: string[] | undefined;
}

/** Parse a hop `[user@]host[:port]` (IPv6 as `[addr]:port`); user and port may be left open. */
export function parseHopSpec(spec: string, where: string): { user?: string; host: string; port?: number } {
  const at = spec.lastIndexOf("@");
  const user = at >= 0 ? checkUser(spec.slice(0, at), where) : undefined;
  const rest = at >= 0 ? spec.slice(at + 1) : spec;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  let host = rest;
  let port: number | undefined;
  if (bracketed) {
    host = bracketed[1] ?? "";
    if (bracketed[2] !== undefined) port = checkPort(bracketed[2], where);
  } else if ((rest.match(/:/g) ?? []).length === 1) {
    host = rest.slice(0, rest.indexOf(":"));
    port = checkPort(rest.slice(rest.indexOf(":") + 1), where);
  }
  return {
    ...(user === undefined ? {} : { user }),
    host: checkHost(host, where),
    ...(port === undefined ? {} : { port }),
  };
}

/**
 * Jump hosts: native `jump` / Ansible's `mp_sideload_jump` (one `[user@]host[:port]`, a
 * comma list or a list), else `-J HOPS` or `-o ProxyJump=HOPS` in the first of `sshArgs`
 * (Ansible's `ansible_ssh_common_args`, `ansible_ssh_extra_args`) that has one.
 */
export function jumpsFrom(jump: unknown, sshArgs: unknown[], where: string): string[] | undefined {
  let specs: string[] | undefined;
  if (typeof jump === "string") specs = jump.split(",");
  else if (Array.isArray(jump) && jump.every((j) => typeof j === "string")) specs = jump;
  else if (jump !== undefined && jump !== null) {
    throw new SideloadError("INVENTORY_INVALID", `${where}: jump must be a host or a list of hosts`, {
      hint: "e.g. jump: ops@bastion-1.example.com:22",
    });
  }
  for (const args of sshArgs) {
    if (typeof args !== "string" || specs !== undefined) continue;
    const match = /(?:^|\s)(?:-J\s*|-o\s*ProxyJump[= ])["']?([^\s"']+)/.exec(args);
    if (match) specs = (match[1] ?? "").split(",");
  }
  const cleaned = specs?.map((s) => s.trim()).filter((s) => s !== "" && s.toLowerCase() !== "none");
  for (const spec of cleaned ?? []) parseHopSpec(spec, `${where}: jump`);
  return cleaned === undefined || cleaned.length === 0 ? undefined : cleaned;
}

/**
 * The engine socket path may reach a shell on the proxy (`docker -H unix://PATH system
 * dial-stdio`): only plain path characters are accepted.
 */
export function checkDockerSocket(path: string | undefined, where: string): string | undefined {
  if (path !== undefined && !/^\/[A-Za-z0-9_./-]+$/.test(path)) {
    throw new SideloadError(
      "INVENTORY_INVALID",
      `${where}: dockerSocket ${quote(path)} is not an absolute path of letters, digits and ._-/`,
      { hint: "e.g. dockerSocket: /var/run/docker.sock" },
    );
  }
  return path;
}

/** How a proxy is reached: `you → bastion-1 → cp-east-1`. */
export function routeOf(proxy: Proxy): string {
  return ["you", ...(proxy.jump ?? []).map((h) => h.name), proxy.name].join(" → ");
}

const hostPattern =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const userPattern = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;

/** Check a host name or address from an inventory or the command line. */
export function checkHost(host: string, where: string): string {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (hostPattern.test(bare) || /^[0-9a-fA-F:]+$/.test(bare)) return bare;
  throw new SideloadError("INVENTORY_INVALID", `${where}: ${quote(host)} is not a host name or address`, {
    hint: "e.g. cp-01.example.com or 10.0.0.5",
  });
}

/** Check a port: a number or decimal digits, from 1 to 65535. */
export function checkPort(port: unknown, where: string): number {
  const n = typeof port === "string" && /^\d+$/.test(port) ? Number(port) : port;
  if (typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 65535) return n;
  throw new SideloadError(
    "INVENTORY_INVALID",
    `${where}: port ${quote(String(port))} is not from 1 to 65535`,
    {
      hint: "e.g. port: 22",
    },
  );
}

/** Check a user name (letters, digits, _.-; no spaces or options). */
export function checkUser(user: string, where: string): string {
  if (userPattern.test(user)) return user;
  throw new SideloadError("INVENTORY_INVALID", `${where}: ${quote(user)} is not a user name`, {
    hint: "e.g. root",
  });
}

/**
 * Parse `--proxy [user@]host[:port]` (IPv6 as `[addr]:port`).
 */
export function parseProxyArg(value: string, defaultUser: string, userGiven = true): Proxy {
  const spec = parseHopSpec(value, `--proxy ${quote(value)}`);
  const port = spec.port ?? 22;
  const defaulted: ("user" | "port")[] = [];
  if (spec.user === undefined && !userGiven) defaulted.push("user");
  if (spec.port === undefined) defaulted.push("port");
  return {
    name: port === 22 ? spec.host : hostPort(spec.host, port),
    host: spec.host,
    port,
    user: spec.user ?? defaultUser,
    groups: [],
    ...(defaulted.length > 0 ? { defaulted } : {}),
  };
}
