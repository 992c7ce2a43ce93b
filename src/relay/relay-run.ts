/**
 * A run's relay: one Relay (certificate, spool, registry clients) for every proxy of the run, a
 * run id for the marked lines, and each proxy's relay object. Closed once at the run's end,
 * after every proxy's undo.
 */
import { randomBytes } from "node:crypto";
import type { RegistryAuth } from "../credentials/registry-auth.js";
import { SideloadError, printable } from "../errors.js";
import type { Proxy } from "../inventory/proxy.js";
import type { AdapterImage } from "../pak/read-paks.js";
import type { RegistryClientOptions } from "../registry/registry-client.js";
import { ProxyRelay, type RelayNote } from "./proxy-relay.js";
import { Relay } from "./relay.js";

export interface RelayRun {
  mode: "all" | "auto";
  readonly runId: string;
  readonly relay: Relay;
  forProxy(proxy: Proxy, registries: string[], where: string): ProxyRelay;
  close(): Promise<void>;
}

/** Docker Hub's names: the engine sends them to its mirrors and registry-1.docker.io, never to the name. */
const hub = new Set(["docker.io", "index.docker.io"]);

/** Refuse what cannot be relayed, before anything is contacted. */
export function checkRelayable(images: AdapterImage[]): void {
  const onHub = images.find((i) => hub.has(i.registry));
  if (onHub !== undefined) {
    throw new SideloadError("USAGE", `--relay cannot carry ${onHub.reference}: a Docker Hub reference`, {
      hint: "the engine sends Docker Hub pulls to its mirrors and registry-1.docker.io, not to the name in the reference: pull it without --relay",
    });
  }
}

/** The relay for a run: started now, its manifests fetched as soon as the gate allows. */
export async function startRelayRun(options: {
  mode: "all" | "auto";
  images: AdapterImage[];
  credentials: (registry: string) => Promise<RegistryAuth | undefined>;
  client: RegistryClientOptions;
  /** Told of what the relay did on a proxy that the report does not show. */
  note: (message: string) => void;
}): Promise<RelayRun> {
  checkRelayable(options.images);
  const relay = await Relay.start(options);
  const runId = `${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
  return {
    mode: options.mode,
    runId,
    relay,
    forProxy: (proxy, registries, where) =>
      new ProxyRelay(relay, runId, registries, where, (note) =>
        options.note(noteText(printable(proxy.name), note)),
      ),
    close: () => relay.close(),
  };
}

function noteText(name: string, note: RelayNote): string {
  switch (note.type) {
    case "stale-removed":
      return `${name}: removed /etc/hosts lines left by killed runs (${note.marks.map((m) => `${m.host}, run ${m.runId}`).join("; ")})`;
    case "set-aside":
      return `${name}: set aside for the relay's time, restored afterwards: ${note.lines.map((l) => printable(l)).join("; ")}`;
    case "ended-earlier":
      return `${name}: ended ${note.keepers.length === 1 ? "a connection" : `${note.keepers.length} connections`} of this run that sshd still held after the network dropped it (with its relay forward)`;
    case "undo-failed":
      return `${name}: the relay's /etc/hosts line could not be removed (${(note.error as Error).message ?? String(note.error)}); the next run or doctor removes it`;
  }
}
