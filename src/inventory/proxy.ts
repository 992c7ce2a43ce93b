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
export function parseProxyArg(value: string, defaultUser: string): Proxy {
  const where = `--proxy ${quote(value)}`;
  let rest = value;
  let user = defaultUser;
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    user = checkUser(rest.slice(0, at), where);
    rest = rest.slice(at + 1);
  }
  let host = rest;
  let port = 22;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (bracketed) {
    host = bracketed[1] ?? "";
    if (bracketed[2] !== undefined) port = checkPort(bracketed[2], where);
  } else if ((rest.match(/:/g) ?? []).length === 1) {
    const colon = rest.indexOf(":");
    host = rest.slice(0, colon);
    port = checkPort(rest.slice(colon + 1), where);
  }
  host = checkHost(host, where);
  return { name: port === 22 ? host : hostPort(host, port), host, port, user, groups: [] };
}
