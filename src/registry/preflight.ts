/**
 * The registry side, checked once from the workstation before any proxy is touched: per
 * registry, can its references be pulled anonymously (then no credentials are needed), else
 * with which credentials, and are they accepted and the manifests there. Shared by
 * `check-registry` (which reports it) and `pull` (which stops on a verdict that would fail on
 * every proxy, and goes on with a warning when the workstation simply cannot tell).
 */
import type { CredentialResolver } from "../credentials/resolve.js";
import type { RegistryAuth } from "../credentials/registry-auth.js";
import type { ErrorCode } from "../errors.js";
import type { AdapterImage } from "../pak/read-paks.js";
import { RegistryClient, type RegistryClientOptions, type RegistryVerdict } from "./registry-client.js";

export interface RegistryPreflight {
  registry: string;
  /** `anonymous`, or where the credentials came from; never the secret. */
  credentialSource: string;
  /** The credentials to give the proxies' engines; undefined for an anonymous registry. */
  auth?: RegistryAuth | undefined;
  /** Fresh credentials after a refusal on a proxy, when the source can give them. */
  refresh?: (() => Promise<RegistryAuth>) | undefined;
  verdicts: RegistryVerdict[];
}

/** The verdicts after which every proxy would fail the same way: stop before connecting. */
export const fatalCodes: ErrorCode[] = ["REGISTRY_UNAUTHORIZED", "MANIFEST_UNKNOWN", "PLATFORM_MISSING"];

export interface PreflightOptions extends RegistryClientOptions {
  /** Ask in the terminal when no source has credentials (a terminal run). */
  prompt: boolean;
  /** Check nothing over the network (--no-registry-check): only resolve credentials. */
  skipCheck?: boolean;
}

/** Check every registry of `images` and settle its credentials. */
export async function preflightRegistries(
  images: AdapterImage[],
  resolver: CredentialResolver,
  options: PreflightOptions,
): Promise<RegistryPreflight[]> {
  const registries = [...new Set(images.map((t) => t.registry))];
  return Promise.all(
    registries.map((registry) =>
      preflightRegistry(
        registry,
        images.filter((t) => t.registry === registry),
        resolver,
        options,
      ),
    ),
  );
}

/** Check one registry's images and settle its credentials (`none` when no source has any). */
export async function preflightRegistry(
  registry: string,
  images: AdapterImage[],
  resolver: CredentialResolver,
  options: PreflightOptions,
): Promise<RegistryPreflight> {
  const first = images[0] as AdapterImage;
  if (options.skipCheck) {
    const resolved = await resolver.find(registry, first.reference, options.prompt);
    if (resolved === undefined) return { registry, credentialSource: "none", verdicts: [] };
    return {
      registry,
      credentialSource: resolved.source,
      auth: resolved.auth,
      refresh: resolved.refresh,
      verdicts: [],
    };
  }
  const client = new RegistryClient(registry, options);
  try {
    const anonymous = await Promise.all(images.map((t) => client.check(t, undefined)));
    if (anonymous.every((v) => v.status === "public")) {
      return { registry, credentialSource: "anonymous", verdicts: anonymous };
    }
    const resolved = await resolver.find(registry, first.reference, options.prompt);
    if (resolved === undefined) return { registry, credentialSource: "none", verdicts: anonymous };
    // The workstation cannot reach or trust the registry, or something else answers for it:
    // asking again with credentials would only wait again. The proxies' own login decides.
    const unreachable = ["REGISTRY_UNREACHABLE", "REGISTRY_UNTRUSTED_CA", "REGISTRY_BAD_ANSWER"];
    if (anonymous.every((v) => unreachable.includes(v.error?.code ?? ""))) {
      return {
        registry,
        credentialSource: resolved.source,
        auth: resolved.auth,
        refresh: resolved.refresh,
        verdicts: anonymous,
      };
    }
    let auth = resolved.auth;
    let verdicts = await Promise.all(images.map((t) => client.check(t, auth)));
    if (resolved.refresh && verdicts.some((v) => v.error?.code === "REGISTRY_UNAUTHORIZED")) {
      auth = await resolved.refresh();
      verdicts = await Promise.all(images.map((t) => client.check(t, auth)));
    }
    // The waits for rate limits of the anonymous try count too: one total per reference.
    verdicts = verdicts.map((v, i) => {
      const waitedMs = (v.waitedMs ?? 0) + (anonymous[i]?.waitedMs ?? 0);
      return waitedMs > 0 ? { ...v, waitedMs } : v;
    });
    return { registry, credentialSource: resolved.source, auth, refresh: resolved.refresh, verdicts };
  } finally {
    await client.close();
  }
}
