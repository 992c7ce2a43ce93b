/**
 * How each proxy is reached: OpenSSH's configuration applied to it as `ssh` would (HostName,
 * Port, User, IdentityFile, ProxyJump, UserKnownHostsFile, StrictHostKeyChecking accept-new,
 * ConnectTimeout, ServerAliveInterval), under the explicit options and inventory fields, and
 * its jump hosts resolved the same way.
 */
import { SideloadError, quote } from "../errors.js";
import { mapConcurrently } from "../session/map-concurrently.js";
import type { SshConfigReader, SshHostConfig } from "../ssh/ssh-config.js";
import { checkHost, checkUser, parseHopSpec, type Hop, type Proxy } from "../inventory/proxy.js";

export interface RouteOptions {
  /** --jump: hops for every proxy, over the inventory's and the ssh config's. */
  jump?: string[] | undefined;
  /** The user of a hop that names none, in no ssh config either. */
  defaultUser: string;
}

/** Apply the ssh configuration (if any) and resolve jump hosts, for every proxy. */
export async function resolveRoutes(
  proxies: Proxy[],
  reader: SshConfigReader | undefined,
  options: RouteOptions,
): Promise<Proxy[]> {
  const cache = new Map<string, Promise<SshHostConfig>>();
  const lookup = (host: string) => {
    if (!reader) return Promise.resolve({});
    let found = cache.get(host);
    if (!found) {
      found = reader.lookup(host);
      cache.set(host, found);
    }
    return found;
  };
  // A few at a time: each lookup may start an `ssh -G`.
  return mapConcurrently(
    proxies,
    16,
    (p) => resolveRoute(p, lookup, options),
    (p) => p,
  );
}

async function resolveRoute(
  proxy: Proxy,
  lookup: (host: string) => Promise<SshHostConfig>,
  options: RouteOptions,
): Promise<Proxy> {
  const where = `ssh config for ${quote(proxy.host)}`;
  const config = await lookup(proxy.host);
  const defaulted = proxy.defaulted ?? [];
  const specs = options.jump ?? proxy.jumpSpecs ?? config.proxyJump;
  const jump =
    specs === undefined
      ? undefined
      : await Promise.all(specs.map((spec) => resolveHop(spec, lookup, options.defaultUser, proxy)));
  return {
    ...proxy,
    host: config.hostname === undefined ? proxy.host : checkHost(config.hostname, `${where}: HostName`),
    port: defaulted.includes("port") && config.port !== undefined ? config.port : proxy.port,
    user:
      defaulted.includes("user") && config.user !== undefined
        ? checkUser(config.user, `${where}: User`)
        : proxy.user,
    ...(jump === undefined ? {} : { jump }),
    ...(config.identityFiles === undefined ? {} : { identityFiles: config.identityFiles }),
    ...(config.identitiesOnly === undefined ? {} : { identitiesOnly: config.identitiesOnly }),
    ...(config.identityAgent === undefined
      ? {}
      : {
          agent:
            config.identityAgent === "none"
              ? null
              : config.identityAgent === "SSH_AUTH_SOCK"
                ? undefined
                : config.identityAgent,
        }),
    ...(config.userKnownHostsFiles === undefined ? {} : { knownHostsFiles: config.userKnownHostsFiles }),
    // accept-new is honoured; "no" never turns host key checking off here.
    ...(config.strictHostKeyChecking === "accept-new" ? { acceptNewHostKey: true } : {}),
    ...(config.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: config.connectTimeoutMs }),
    ...(config.serverAliveIntervalMs === undefined
      ? {}
      : { keepaliveIntervalMs: config.serverAliveIntervalMs }),
  };
}

async function resolveHop(
  spec: string,
  lookup: (host: string) => Promise<SshHostConfig>,
  defaultUser: string,
  proxy: Proxy,
): Promise<Hop> {
  const parsed = parseHopSpec(spec, `jump host ${quote(spec)} of ${quote(proxy.name)}`);
  const config = await lookup(parsed.host);
  if (
    config.proxyJump !== undefined &&
    config.proxyJump.length > 0 &&
    !config.proxyJump.includes(parsed.host)
  ) {
    // OpenSSH would chain these too; mp-sideload takes the chain written in one place.
    throw new SideloadError(
      "SSH_CONFIG_INVALID",
      `jump host ${quote(parsed.host)} has a ProxyJump of its own in the ssh config`,
      {
        hint: `write the whole chain where ${quote(proxy.name)}'s jump is set, e.g. ProxyJump ${config.proxyJump.join(",")},${parsed.host}`,
      },
    );
  }
  return {
    name: parsed.host,
    host:
      config.hostname === undefined
        ? parsed.host
        : checkHost(config.hostname, `ssh config for ${quote(parsed.host)}: HostName`),
    port: parsed.port ?? config.port ?? 22,
    user:
      parsed.user ??
      (config.user === undefined
        ? defaultUser
        : checkUser(config.user, `ssh config for ${quote(parsed.host)}: User`)),
    ...(config.identityFiles === undefined ? {} : { identityFiles: config.identityFiles }),
  };
}
