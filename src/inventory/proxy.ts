import { SideloadError, hostPort, quote } from "../errors.js";

/** One cloud proxy to prepare, with everything needed to reach it. */
export interface Proxy {
  /** Inventory name (or `host:port` for --proxy). */
  name: string;
  host: string;
  port: number;
  user: string;
  /** Private key file for this proxy (inventory `identity` / `ansible_ssh_private_key_file`). */
  identity?: string | undefined;
  /** The engine's unix socket on the proxy, when it is not the proxy's DOCKER_HOST or the default. */
  dockerSocket?: string | undefined;
  groups: string[];
  /** Jump hosts as written (`[user@]host[:port]`, inventory, --jump or ssh config), in order. */
  jumpSpecs?: string[] | undefined;
  /** The jump hosts, resolved (ssh config applied to each). */
  jump?: Hop[] | undefined;
  /** Fields that hold mp-sideload's defaults, which the ssh configuration may replace. */
  defaulted?: ("user" | "port")[] | undefined;
  /** From the ssh configuration: keys to try (IdentityFile), and whether only those. */
  identityFiles?: string[] | undefined;
  identitiesOnly?: boolean | undefined;
  /** From the ssh configuration: the agent socket, or null for `IdentityAgent none`. */
  agent?: string | null | undefined;
  /** From the ssh configuration: UserKnownHostsFile (read all, record in the first). */
  knownHostsFiles?: string[] | undefined;
  /** From the ssh configuration: StrictHostKeyChecking accept-new. */
  acceptNewHostKey?: boolean | undefined;
  connectTimeoutMs?: number | undefined;
  keepaliveIntervalMs?: number | undefined;
  /** From VCF Operations: the collector's state there (`UP`, `DOWN`); a DOWN proxy is still a target. */
  opsState?: string | undefined;
  /** From VCF Operations: why it is a target (`east-group holds LabAdapter instance lab-1`). */
  reason?: string | undefined;
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
