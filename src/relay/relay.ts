/**
 * The relay: a read-only registry inside mp-sideload for the proxies that cannot reach the real
 * one. It listens nowhere: it is handed connections (the SSH remote forwards' streams), speaks
 * TLS on them with a throwaway certificate, and serves exactly the run's references: `/v2/`,
 * each manifest by digest byte for byte (its Content-Type and Docker-Content-Digest), for an
 * index its linux/amd64 manifest, and the blobs those manifests name. Everything else is 404.
 * It fetches from the real registry from this machine, with this machine's credentials and
 * trust (the registry client), each blob once per run for every proxy (the spool).
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import https from "node:https";
import { pipeline, type Duplex, type Readable } from "node:stream";
import type { RegistryAuth } from "../credentials/registry-auth.js";
import { SideloadError } from "../errors.js";
import type { AdapterImage } from "../pak/read-paks.js";
import {
  RegistryClient,
  type FetchedManifest,
  type RegistryClientOptions,
  type RegistryRefusal,
} from "../registry/registry-client.js";
import { BlobSpool, type SpoolStats } from "./blob-spool.js";
import { makeThrowawayCert } from "./throwaway-cert.js";

export interface RelayOptions {
  /** The run's references: the only ones served. */
  images: AdapterImage[];
  /** A registry's credentials (the run's gate: after its check), undefined when anonymous. */
  credentials: (registry: string) => Promise<RegistryAuth | undefined>;
  /** How this machine reaches the registry: trust (--registry-ca, certs.d), 429s, the signal. */
  client: RegistryClientOptions;
  /** Where the spool folder is made; default the system's temporary folder. */
  spoolParent?: string | undefined;
}

/** What the relay served: for the report, the bench and the tests. */
export interface RelayStats extends SpoolStats {
  /** Requests answered, by status. */
  answers: Map<number, number>;
}

const index = new Set([
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.index.v1+json",
]);

/** A blob a served manifest names: its size (checked) and the image to fetch it through. */
interface BlobEntry {
  size: number;
  image: AdapterImage;
}

/** What one registry's references allow: manifests and blobs, keyed `REPOSITORY@DIGEST`. */
interface Catalogue {
  manifests: Map<string, FetchedManifest>;
  blobs: Map<string, BlobEntry>;
}

export class Relay {
  private readonly server: Server;
  private readonly sockets = new Set<Duplex>();
  private readonly clients = new Map<string, RegistryClient>();
  private readonly catalogues = new Map<string, Promise<Catalogue>>();
  /** The registry host as the engine names it in `Host` (no `:443`) → the registry as in the pak. */
  private readonly hosts = new Map<string, string>();
  private readonly answers = new Map<number, number>();
  /** Per digest, the image of the run whose repository the blob is fetched through. */
  private readonly sources = new Map<string, BlobEntry>();
  /** Per registry, why the relay last could not serve from it: the engine sees only a status. */
  private readonly refusals = new Map<string, { at: number; error: Error }>();

  private constructor(
    private readonly options: RelayOptions,
    private readonly spool: BlobSpool,
  ) {
    for (const image of options.images) this.hosts.set(hostKey(image.registry), image.registry);
    const cert = makeThrowawayCert([...new Set(options.images.map((i) => hostOnly(i.registry)))]);
    // https.Server is a tls.Server: a stream emitted as a `connection` gets TLS wrapped round it.
    this.server = https.createServer({ key: cert.key, cert: cert.cert }, (request, response) => {
      void this.serve(request, response);
    });
    this.server.keepAliveTimeout = 60_000;
  }

  /** A relay for `options.images`, with its spool folder made. */
  static async start(options: RelayOptions): Promise<Relay> {
    // The spool's source is the relay's own fetch: the relay exists by the time a blob is asked for.
    const holder: { relay?: Relay } = {};
    const spool = await BlobSpool.create(
      (digest) => (holder.relay as Relay).fetchBlob(digest),
      options.spoolParent,
    );
    holder.relay = new Relay(options, spool);
    return holder.relay;
  }

  /** Serve one connection (a forwarded channel): TLS, then HTTP/1.1 on it. */
  handle(stream: Duplex): void {
    this.sockets.add(stream);
    stream.once("close", () => this.sockets.delete(stream));
    stream.on("error", () => stream.destroy());
    this.server.emit("connection", stream);
  }

  /**
   * Fetch the manifests of every registry of the run now (the proxies' wait for the hosts line
   * overlaps it). Never rejects: a failure is answered to the engine that asks, and tried again.
   */
  warm(): void {
    for (const registry of new Set(this.options.images.map((i) => i.registry))) {
      this.catalogue(registry).catch(() => undefined);
    }
  }

  /**
   * Why the relay last failed to fetch from one of `registries` at or after `since` (epoch ms),
   * or undefined: a proxy's failed pull says it, since its engine saw only a 502 or a 429.
   */
  refusalSince(since: number, registries: string[]): Error | undefined {
    const refusals = registries.flatMap((r) => {
      const refusal = this.refusals.get(r);
      return refusal !== undefined && refusal.at >= since ? [refusal] : [];
    });
    return refusals.sort((a, b) => b.at - a.at)[0]?.error;
  }

  get stats(): RelayStats {
    return { ...this.spool.counts, answers: new Map(this.answers) };
  }

  /** Cut every connection, close the registry clients, remove the spool. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
    for (const client of this.clients.values()) await client.close();
    await this.spool.close();
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    response.once("finish", () => this.count(response.statusCode));
    try {
      const registry = this.hosts.get(hostKey(request.headers.host ?? ""));
      const path = new URL(request.url ?? "/", "https://relay").pathname;
      if (registry === undefined || (request.method !== "GET" && request.method !== "HEAD"))
        return notFound(response);
      if (path === "/v2/" || path === "/v2") {
        response.writeHead(200, { ...apiVersion, "content-type": "application/json" });
        return void response.end(request.method === "HEAD" ? undefined : "{}");
      }
      const match = /^\/v2(\/.+)\/(manifests|blobs)\/([a-z0-9]+:[a-f0-9]{32,128})$/.exec(path);
      if (match === null) return notFound(response);
      const [, repository = "", kind, digest = ""] = match;
      const catalogue = await this.catalogue(registry);
      if (kind === "manifests") {
        const manifest = catalogue.manifests.get(`${repository}@${digest}`);
        if (manifest === undefined) return notFound(response);
        response.writeHead(200, {
          ...apiVersion,
          "content-type": manifest.mediaType,
          "docker-content-digest": manifest.digest,
          "content-length": manifest.bytes.length,
        });
        return void response.end(request.method === "HEAD" ? undefined : manifest.bytes);
      }
      const blob = catalogue.blobs.get(`${repository}@${digest}`);
      if (blob === undefined) return notFound(response);
      await this.serveBlob(request, response, digest, blob);
    } catch (error) {
      this.refuse(response, error, this.hosts.get(hostKey(request.headers.host ?? "")));
    }
  }

  private async serveBlob(
    request: IncomingMessage,
    response: ServerResponse,
    digest: string,
    blob: BlobEntry,
  ): Promise<void> {
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? "");
    const start = range === null ? 0 : Number(range[1]);
    if (start > blob.size) {
      response.writeHead(416, { ...apiVersion, "content-range": `bytes */${blob.size}` });
      return void response.end();
    }
    const headers = {
      ...apiVersion,
      "content-type": "application/octet-stream",
      "docker-content-digest": digest,
      "content-length": blob.size - start,
      "accept-ranges": "bytes",
      ...(range === null ? {} : { "content-range": `bytes ${start}-${blob.size - 1}/${blob.size}` }),
    };
    if (request.method === "HEAD") {
      response.writeHead(200, headers);
      return void response.end();
    }
    if (!this.sources.has(digest)) this.sources.set(digest, blob);
    const read = this.spool.read(digest, blob.size, start);
    await read.ready.catch((error: unknown) => {
      // Nothing was sent yet: the engine gets the registry's refusal as a status.
      this.refuse(response, error, blob.image.registry);
    });
    if (response.headersSent) return;
    response.writeHead(range === null ? 200 : 206, headers);
    // A blob cut off (a failed digest check, a dropped fetch) ends the answer short: the engine retries.
    pipeline(read.open(), response, () => undefined);
  }

  /** The registry's manifests for the run, fetched once (again after a failure). */
  private catalogue(registry: string): Promise<Catalogue> {
    let catalogue = this.catalogues.get(registry);
    if (catalogue === undefined) {
      catalogue = this.loadCatalogue(registry);
      this.catalogues.set(registry, catalogue);
      catalogue.catch(() => {
        if (this.catalogues.get(registry) === catalogue) this.catalogues.delete(registry);
      });
    }
    return catalogue;
  }

  private async loadCatalogue(registry: string): Promise<Catalogue> {
    const client = this.client(registry);
    const auth = await this.options.credentials(registry);
    const catalogue: Catalogue = { manifests: new Map(), blobs: new Map() };
    for (const image of this.options.images.filter((i) => i.registry === registry)) {
      const top = await client.getManifest(image, auth);
      catalogue.manifests.set(`${image.repository}@${top.digest}`, top);
      let manifest = top;
      if (index.has(top.mediaType)) {
        const digest = amd64Manifest(top, image);
        manifest = await client.getManifest({ ...image, digest }, auth);
        catalogue.manifests.set(`${image.repository}@${digest}`, manifest);
      }
      for (const blob of blobsOf(manifest)) {
        catalogue.blobs.set(`${image.repository}@${blob.digest}`, { size: blob.size, image });
      }
    }
    return catalogue;
  }

  /** The spool's source: the blob through the first repository of the run that named it. */
  private async fetchBlob(digest: string): Promise<Readable> {
    const blob = this.sources.get(digest);
    if (blob === undefined) throw new Error(`${digest}: not a blob of this run`);
    const registry = blob.image.registry;
    return this.client(registry).getBlob(blob.image, digest, await this.options.credentials(registry));
  }

  private client(registry: string): RegistryClient {
    let client = this.clients.get(registry);
    if (client === undefined) {
      client = new RegistryClient(registry, this.options.client);
      this.clients.set(registry, client);
    }
    return client;
  }

  /** Answer a refusal, and keep it as the registry's last for the proxies' errors. */
  private refuse(response: ServerResponse, error: unknown, registry: string | undefined): void {
    if (registry !== undefined) {
      const kept = error instanceof Error ? error : new Error(String(error));
      this.refusals.set(registry, { at: Date.now(), error: kept });
    }
    refuse(response, error);
  }

  private count(status: number): void {
    this.answers.set(status, (this.answers.get(status) ?? 0) + 1);
  }
}

const apiVersion = { "docker-distribution-api-version": "registry/2.0" };

/** `host[:port]` as the `Host` header and the pak may write it: lower case, no `:443`. */
function hostKey(host: string): string {
  return host.toLowerCase().replace(/:443$/, "");
}

/** The host name of `host[:port]` (also `[v6]:port`). */
export function hostOnly(registry: string): string {
  const bracketed = /^\[([^\]]+)\]/.exec(registry);
  if (bracketed) return bracketed[1] ?? registry;
  return registry.replace(/:\d+$/, "");
}

/** The digest of an index's linux/amd64 manifest. */
function amd64Manifest(top: FetchedManifest, image: AdapterImage): string {
  const parsed = JSON.parse(top.bytes.toString("utf8")) as {
    manifests?: { digest?: string; platform?: { os?: string; architecture?: string } }[];
  };
  const digest = parsed.manifests?.find(
    (m) => m.platform?.os === "linux" && m.platform.architecture === "amd64",
  )?.digest;
  if (digest === undefined || !/^[a-z0-9]+:[a-f0-9]{32,128}$/.test(digest)) {
    throw new SideloadError(
      "PLATFORM_MISSING",
      `${image.reference}: the image index has no linux/amd64 image`,
      {},
    );
  }
  return digest;
}

/** The config and layers a single-platform manifest names, with their sizes. */
function blobsOf(manifest: FetchedManifest): { digest: string; size: number }[] {
  const parsed = JSON.parse(manifest.bytes.toString("utf8")) as {
    config?: { digest?: string; size?: number };
    layers?: { digest?: string; size?: number }[];
  };
  return [parsed.config, ...(parsed.layers ?? [])].flatMap((d) =>
    d?.digest !== undefined && typeof d.size === "number" && /^[a-z0-9]+:[a-f0-9]{32,128}$/.test(d.digest)
      ? [{ digest: d.digest, size: d.size }]
      : [],
  );
}

function notFound(response: ServerResponse): void {
  response.writeHead(404, { ...apiVersion, "content-type": "application/json" });
  response.end(JSON.stringify({ errors: [{ code: "NAME_UNKNOWN", message: "not relayed in this run" }] }));
}

/** The registry's refusal as the engine understands it: 429 with Retry-After, 404, else 502. */
function refuse(response: ServerResponse, error: unknown): void {
  if (response.headersSent) return void response.destroy();
  const code = error instanceof SideloadError ? error.code : "INTERNAL";
  const status = code === "REGISTRY_RATE_LIMITED" ? 429 : code === "MANIFEST_UNKNOWN" ? 404 : 502;
  const retryAfter = (error as RegistryRefusal).retryAfter ?? (status === 429 ? "10" : undefined);
  response.writeHead(status, {
    ...apiVersion,
    "content-type": "application/json",
    ...(retryAfter === undefined ? {} : { "retry-after": retryAfter }),
  });
  const message = error instanceof Error ? error.message : String(error);
  response.end(
    JSON.stringify({ errors: [{ code: status === 429 ? "TOOMANYREQUESTS" : "UNKNOWN", message }] }),
  );
}
