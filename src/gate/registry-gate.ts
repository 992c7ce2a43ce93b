/**
 * The one owner of a run's registries: each registry's check from the workstation, its verdict,
 * the credentials handed to the proxies and their refresh.
 *
 * The checks start at once with the credentials that need no question, and overlap the proxies'
 * connections. A proxy asks for credentials only when it must pull; the first such demand waits
 * for every registry's verdict, and one that every proxy would meet (refused credentials, no such
 * manifest, no linux/amd64, no credentials and no terminal) stops the whole run there, before any
 * credential reached a proxy or anything changed. A run with nothing to pull needs no credentials.
 */
import { credentialsMissing, type CredentialResolver } from "../credentials/resolve.js";
import type { RegistryAuth } from "../credentials/registry-auth.js";
import { SideloadError } from "../errors.js";
import type { AdapterImage } from "../pak/read-paks.js";
import { fatalCodes, preflightRegistry, type RegistryPreflight } from "../registry/preflight.js";
import type { RegistryClientOptions } from "../registry/registry-client.js";
import type { RegistryCredentials } from "../sideload/types.js";

export interface RegistryGateOptions {
  resolver: CredentialResolver;
  /** PEM of `--registry-ca`, trusted by the workstation's check too. */
  ca?: string | undefined;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  /** `--no-registry-check`: only resolve credentials, check nothing over the network. */
  skipCheck: boolean;
  /** May a demand ask in the terminal when no source has credentials. */
  prompt: boolean;
  /** Told of a problem that does not stop the run. */
  warn: (message: string) => void;
  /** With --debug: where each registry's credentials came from (never the secret). */
  debug?: ((message: string) => void) | undefined;
  /** Asked again after the registry refused a typed password; the wizard allows three tries. */
  promptTries?: number;
  /** Rate limits at the workstation's check: tries, the time they may wait, and each wait told. */
  rateLimits?: Pick<RegistryClientOptions, "retries" | "waitBudgetMs" | "onWait">;
  /** The check of one registry; tests of the policy pass their own. */
  preflight?: typeof preflightRegistry;
}

/** A registry's line in the report: where its credentials came from (never the secret) and the check. */
export interface RegistrySummary {
  registry: string;
  credentialSource: string;
  check?: string | undefined;
}

export class RegistryGate implements RegistryCredentials {
  private readonly checks = new Map<string, Promise<RegistryPreflight>>();
  private readonly settled = new Map<string, Promise<RegistryPreflight>>();
  private readonly refreshed = new Map<string, Promise<RegistryAuth | undefined>>();
  /** Registries whose settled verdict is `ok` for every image, with the credentials handed out. */
  private readonly accepted = new Set<string>();
  private readonly stop = new AbortController();

  constructor(
    readonly images: AdapterImage[],
    private readonly options: RegistryGateOptions,
  ) {}

  /** Aborted, with the error that stops the run, once a demanded registry was refused. */
  get refused(): AbortSignal {
    return this.stop.signal;
  }

  /** The registries of the run's images, in image order. */
  get registries(): string[] {
    return [...new Set(this.images.map((i) => i.registry))];
  }

  /** Start every registry's check now, with the credentials that need no question. */
  start(): this {
    for (const registry of this.registries) void this.check(registry).catch(() => undefined);
    return this;
  }

  /** See `RegistryCredentials.credentials`. A refusal also aborts `refused`. */
  async credentials(registry: string): Promise<RegistryAuth | undefined> {
    try {
      // The first demand settles every registry of the run: a pull from one registry must not
      // happen in a run that another registry's verdict stops (exit 2 means nothing changed).
      await this.settleAll();
      return (await this.settle(registry)).auth;
    } catch (error) {
      if (!this.stop.signal.aborted) this.stop.abort(error);
      throw error;
    }
  }

  /** See `RegistryCredentials.verified`. */
  verified(registry: string): boolean {
    return this.accepted.has(registry);
  }

  /** See `RegistryCredentials.reachedFromHere`. */
  async reachedFromHere(registry: string): Promise<boolean> {
    const entry = await (this.settled.get(registry) ?? this.check(registry)).catch(() => undefined);
    const verdicts = entry?.verdicts ?? [];
    return verdicts.length > 0 && verdicts.every((v) => !unreachable.has(v.error?.code ?? ""));
  }

  /** See `RegistryCredentials.refresh`. */
  refresh(registry: string): Promise<RegistryAuth | undefined> {
    let fresh = this.refreshed.get(registry);
    if (fresh === undefined) {
      fresh = this.settle(registry).then(async (entry) => {
        if (entry.refresh === undefined) return undefined;
        this.accepted.delete(registry); // the fresh credentials were not checked from here
        entry.auth = await entry.refresh();
        return entry.auth;
      });
      this.refreshed.set(registry, fresh);
    }
    return fresh;
  }

  /**
   * Check and settle every registry now (the wizard, before its plan): asks in the terminal
   * where the gate may, throws the verdict that stops the run.
   */
  settleAll(): Promise<RegistryPreflight[]> {
    return Promise.all(this.registries.map((r) => this.settle(r)));
  }

  /** Every registry whose check has been started, for the report; a check still running is awaited. */
  async summary(): Promise<RegistrySummary[]> {
    const rows: RegistrySummary[] = [];
    for (const registry of this.registries) {
      const check = this.settled.get(registry) ?? this.checks.get(registry);
      const entry = await check?.catch(() => undefined);
      if (entry === undefined) continue;
      const verdicts = entry.verdicts;
      rows.push({
        registry,
        credentialSource: entry.credentialSource,
        ...(verdicts.length === 0
          ? {}
          : { check: verdicts.every((v) => v.status !== "failed") ? verdicts[0]?.status : "unknown" }),
      });
    }
    return rows;
  }

  private imagesOf(registry: string): AdapterImage[] {
    return this.images.filter((i) => i.registry === registry);
  }

  private check(registry: string, prompt = false): Promise<RegistryPreflight> {
    const preflight = this.options.preflight ?? preflightRegistry;
    const run = async () => {
      const entry = await preflight(registry, this.imagesOf(registry), this.options.resolver, {
        ca: this.options.ca,
        env: this.options.env,
        signal: this.options.signal,
        prompt,
        skipCheck: this.options.skipCheck,
        ...this.options.rateLimits,
      });
      this.options.debug?.(`${registry}: credentials from ${entry.credentialSource}`);
      return entry;
    };
    if (prompt) return run();
    let check = this.checks.get(registry);
    if (check === undefined) this.checks.set(registry, (check = run()));
    return check;
  }

  /** The check's verdict under the run's policy, once per registry. */
  private settle(registry: string): Promise<RegistryPreflight> {
    let settled = this.settled.get(registry);
    if (settled === undefined) {
      settled = this.decide(registry);
      settled.catch(() => undefined); // handled by whoever demanded it
      this.settled.set(registry, settled);
    }
    return settled;
  }

  private async decide(registry: string): Promise<RegistryPreflight> {
    let entry = await this.check(registry);
    const tries = this.options.promptTries ?? 1;
    for (let asked = 0; ;) {
      if (entry.credentialSource === "none") {
        if (entry.verdicts.length > 0 && entry.verdicts.every((v) => unreachable.has(v.error?.code ?? ""))) {
          // This machine cannot tell whether the registry needs credentials (Docker Hub from a
          // closed network): no source has any, so the proxies pull anonymously and decide.
          this.options.warn(
            `${registry}: not reachable from this machine and no credentials for it; the proxies pull anonymously`,
          );
          return { ...entry, credentialSource: "anonymous" };
        }
        // Not public and no source has credentials that need no question.
        if (!this.options.prompt || asked >= tries) return this.missing(registry);
        entry = await this.check(registry, true);
        asked++;
        continue;
      }
      const refused = fatalVerdict(entry);
      if (refused === undefined) break;
      if (refused.code === "REGISTRY_UNAUTHORIZED" && entry.credentialSource === "prompt" && asked < tries) {
        this.options.warn(`${registry} refused that user and password; try again`);
        entry = await this.check(registry, true);
        asked++;
        continue;
      }
      throw refused;
    }
    if (
      entry.auth !== undefined &&
      entry.verdicts.length > 0 &&
      entry.verdicts.every((v) => v.status === "ok")
    )
      this.accepted.add(registry);
    for (const verdict of entry.verdicts) {
      if (verdict.error === undefined) continue;
      this.options.warn(
        `${verdict.error.code}: ${verdict.error.message}; going on: the proxies' own login decides`,
      );
    }
    return entry;
  }

  /** No credentials: CREDENTIALS_MISSING names the options that would supply them. */
  private missing(registry: string): never {
    throw credentialsMissing(registry);
  }
}

/** Verdicts that say this machine cannot see the registry, not what the registry thinks. */
const unreachable = new Set(["REGISTRY_UNREACHABLE", "REGISTRY_UNTRUSTED_CA"]);

/** The verdict after which every proxy would fail the same way, as the error that stops the run. */
export function fatalVerdict(entry: RegistryPreflight): SideloadError | undefined {
  for (const verdict of entry.verdicts) {
    const error = verdict.error;
    if (error === undefined || !fatalCodes.includes(error.code)) continue;
    return new SideloadError(
      error.code,
      `checked from this machine before any proxy logged in: ${error.message}`,
      { hint: error.hint },
    );
  }
  return undefined;
}
