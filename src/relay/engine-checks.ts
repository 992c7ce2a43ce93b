/**
 * Whether a proxy's engine will take the relay, from its `GET /info`, before anything changes:
 * the relay works because moby treats a registry whose host resolves into 127.0.0.0/8 as
 * insecure (TLS not verified), and because the engine dials the registry itself. Two engines
 * break that: Docker 28 or later with the containerd image store, where the rule holds only with
 * `insecure-registries` or `registry-mirrors` in daemon.json (containerd's resolver verifies TLS
 * otherwise), and an engine with an HTTP proxy whose NoProxy does not cover the registry (the
 * proxy, not the engine, would resolve the name).
 */
import { SideloadError } from "../errors.js";
import { hostOnly } from "./relay.js";

/** The parts of `/info` the checks read. */
interface EngineInfo {
  ServerVersion?: unknown;
  DriverStatus?: unknown;
  HttpProxy?: unknown;
  HttpsProxy?: unknown;
  NoProxy?: unknown;
  RegistryConfig?: {
    InsecureRegistryCIDRs?: unknown;
    IndexConfigs?: Record<string, { Secure?: unknown }>;
    Mirrors?: unknown;
  };
}

/** A string field of /info, "" when absent or not a string. */
function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

const defaultInsecure = new Set(["127.0.0.0/8", "::1/128"]);

/** The engine uses the containerd image store (`docker info`: driver-type io.containerd.snapshotter.v1). */
function containerdStore(info: EngineInfo): boolean {
  const status = Array.isArray(info.DriverStatus) ? (info.DriverStatus as unknown[][]) : [];
  return status.some((pair) => text(pair[1]).startsWith("io.containerd.snapshotter"));
}

/** The major version of `ServerVersion` (`28.0.1`, `20.10.24+dfsg1`), 0 when unreadable. */
function major(version: unknown): number {
  return Number(/^(\d+)\./.exec(text(version))?.[1] ?? 0);
}

/**
 * Does Go's NO_PROXY rule (golang.org/x/net/http/httpproxy) exempt `registry`? `*`; a host name
 * that is the host or a parent domain (with or without a leading dot); `host:port` for that port
 * only. CIDRs and IPs do not match a host name (the proxy decision is made before resolving).
 */
export function noProxyCovers(noProxy: string, registry: string): boolean {
  const host = hostOnly(registry).toLowerCase();
  const port = /:(\d+)$/.exec(registry)?.[1] ?? "443";
  return noProxy
    .split(/[\s,]+/)
    .filter((entry) => entry !== "")
    .some((raw) => {
      const entry = raw.toLowerCase();
      if (entry === "*") return true;
      const withPort = /^(.+):(\d+)$/.exec(entry);
      const name = (withPort?.[1] ?? entry).replace(/^\*?\./, "");
      if (withPort && withPort[2] !== port) return false;
      return host === name || host.endsWith(`.${name}`);
    });
}

/** The reason the relay cannot work through this engine for `registries`, or undefined. */
export function relayEngineProblem(
  info: EngineInfo,
  registries: string[],
  where: string,
): SideloadError | undefined {
  const config = info.RegistryConfig ?? {};
  const cidrs = Array.isArray(config.InsecureRegistryCIDRs) ? config.InsecureRegistryCIDRs.map(String) : [];
  const insecureByName = Object.entries(config.IndexConfigs ?? {}).some(
    ([name, index]) => name !== "docker.io" && index.Secure === false,
  );
  const insecure = insecureByName || cidrs.some((cidr) => !defaultInsecure.has(cidr));
  const mirrors = Array.isArray(config.Mirrors) && config.Mirrors.length > 0;
  if (major(info.ServerVersion) >= 28 && containerdStore(info) && !insecure && !mirrors) {
    return new SideloadError(
      "RELAY_ENGINE_UNSUITABLE",
      `${where}: Docker ${String(info.ServerVersion)} with the containerd image store verifies the relay's TLS certificate (neither insecure-registries nor registry-mirrors is set)`,
      {
        hint: `set "insecure-registries" (e.g. ["${registries[0] ?? "REGISTRY"}"]) or "registry-mirrors" in the proxy's /etc/docker/daemon.json and restart its engine (mp-sideload never edits daemon.json), or pull without --relay`,
      },
    );
  }
  const proxy = text(info.HttpsProxy) || text(info.HttpProxy);
  const uncovered = registries.filter((r) => !noProxyCovers(text(info.NoProxy), r));
  if (proxy !== "" && uncovered.length > 0) {
    return new SideloadError(
      "RELAY_ENGINE_PROXY",
      `${where}: the engine sends registry traffic through its HTTP proxy (${proxy.replace(/\/\/[^@/]*@/, "//…@")}) and its NoProxy does not cover ${uncovered.join(", ")}`,
      {
        hint: `add ${uncovered.map(hostOnly).join(",")} to the engine's NO_PROXY (its service environment or daemon.json "proxies") and restart it, or pull without --relay`,
      },
    );
  }
  return undefined;
}
