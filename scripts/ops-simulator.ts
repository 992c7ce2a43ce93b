/**
 * A VCF Operations Suite API simulator for the tests and the lab: HTTPS, token auth (acquire,
 * release, `OpsToken` for VCF Operations 9, `vRealizeOpsToken` for Aria Operations 8), and
 * the collectors, collector groups and adapter instances of a scenario file, rendered in the
 * shapes of either release. Several simulated deployments share one port, each under a path
 * prefix (`https://127.0.0.1:PORT/aria8/suite-api/…`; the bare `/suite-api` is `vcf9`), with
 * injectable faults (an HTTP status or a delay on one path).
 *
 *   node --import tsx scripts/ops-simulator.ts --scenario FILE --port N --cert F --key F --password-file F
 *
 * It is not VCF Operations: only what mp-sideload reads is there. `GET /_sim/stats` (no auth)
 * counts tokens acquired and released per deployment, for the tests.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { CasaSimulator } from "./casa-simulator.js";

export type { SimCasaSeen, SimCasaSwitches } from "./casa-simulator.js";

/** A collector of a scenario, independent of the release that renders it. */
export interface SimCollector {
  id: number;
  name: string;
  hostName?: string;
  role: "internal" | "cloud-proxy" | "unified-cloud-proxy" | "remote";
  state: "UP" | "DOWN";
}

export interface SimDeployment {
  collectors: SimCollector[];
  groups: { id: string; name: string; members: number[] }[];
  adapters: { id: string; name: string; kind: string; group?: string; collector?: number }[];
}

export interface SimInstance {
  release: "vcf9" | "aria8";
  /** Key into `deployments`; default "lab". */
  deployment?: string;
  /** Answer this status on a path (e.g. "/collectors"), after auth. */
  fail?: { path: string; status: number };
  /** Redirect a path (before auth) to `location`. */
  redirect?: { path: string; location: string };
  /** Wait this long before answering a path. */
  delay?: { path: string; ms: number };
}

export interface SimScenario {
  user: string;
  /** Accepted auth sources besides none; default ["local"]. */
  authSources?: string[];
  deployments: Record<string, SimDeployment>;
  instances: Record<string, SimInstance>;
}

export interface SimStats {
  acquired: number;
  released: number;
  refusedLogins: number;
  requests: number;
}

export interface OpsSimulator {
  url: string;
  port: number;
  stats: Record<string, SimStats>;
  close(): Promise<void>;
}

/** The adapter kinds every simulated deployment knows before any pak is installed. */
const baseKinds = ["VMWARE", "Container", "OPENAPI"];

const schemeOf = { vcf9: "OpsToken", aria8: "vRealizeOpsToken" } as const;

/** Start the simulator on `host:port` (port 0: any free one). */
export async function startOpsSimulator(options: {
  scenario: SimScenario;
  password: string;
  cert: string;
  key: string;
  host?: string;
  port?: number;
  log?: (line: string) => void;
}): Promise<OpsSimulator> {
  const tokens = new Map<string, string>(); // token → instance
  const stats: Record<string, SimStats> = {};
  const statsOf = (name: string) =>
    (stats[name] ??= { acquired: 0, released: 0, refusedLogins: 0, requests: 0 });
  const server = https.createServer({ cert: options.cert, key: options.key }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      options.log?.(`error: ${(error as Error).message}`);
      if (!res.headersSent) send(res, 500, { message: "simulator error" });
    });
  });
  const casa = new CasaSimulator(
    { user: options.scenario.user, password: () => options.password },
    options.log,
  );
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "https://sim");
    if (url.pathname === "/_sim/stats") return send(res, 200, stats);
    const control = /^\/_sim\/casa\/([a-z0-9-]+)$/.exec(url.pathname);
    if (control?.[1]) return casa.control(control[1], req, res);
    // CaSA answers beside the Suite API, under the same deployment prefix (its body is a pak).
    const casaPath = /^(?:\/([a-z0-9-]+))?\/casa\/upgrade\/cluster\/pak(\/.*)$/.exec(url.pathname);
    if (casaPath) {
      const casaName = casaPath[1] ?? "vcf9";
      if (!options.scenario.instances[casaName]) return send(res, 404, { message: "not found" });
      return casa.handle(casaName, casaPath[2] ?? "", req, res, url.searchParams);
    }
    const match = /^(?:\/([a-z0-9-]+))?\/suite-api\/api(\/.*)$/.exec(url.pathname);
    const name = match?.[1] ?? "vcf9";
    const instance = options.scenario.instances[name];
    const path = match?.[2] ?? "";
    const body = await readBody(req);
    const status = (code: number, payload: unknown = {}) => {
      options.log?.(`${req.method} ${url.pathname}${url.search} ${code}`);
      send(res, code, payload);
    };
    if (!match || !instance) return status(404, { message: "not found" });
    statsOf(name).requests++;
    if (instance.delay && instance.delay.path === path) await sleep(instance.delay.ms, res);
    if (res.destroyed) return;
    if (instance.redirect && instance.redirect.path === path) {
      options.log?.(`${req.method} ${url.pathname} 307`);
      res.writeHead(307, { location: instance.redirect.location, "content-length": 0 });
      return void res.end();
    }
    if (req.method === "POST" && path === "/auth/token/acquire") {
      const login = parseJson(body) as { username?: unknown; password?: unknown; authSource?: unknown };
      const sources = options.scenario.authSources ?? ["local"];
      const sourceOk =
        login.authSource === undefined ||
        (typeof login.authSource === "string" && sources.includes(login.authSource.toLowerCase()));
      if (login.username !== options.scenario.user || login.password !== options.password || !sourceOk) {
        statsOf(name).refusedLogins++;
        return status(401, { message: "Authentication failed", httpStatusCode: 401, apiErrorCode: 1512 });
      }
      const token = `${randomUUID()}::${randomUUID()}`;
      tokens.set(token, name);
      statsOf(name).acquired++;
      return status(200, { token, validity: Date.now() + 6 * 3600_000, expiresAt: "in 6 hours", roles: [] });
    }
    const auth = req.headers.authorization ?? "";
    const [scheme, token = ""] = auth.split(" ");
    if (scheme !== schemeOf[instance.release] || tokens.get(token) !== name) {
      return status(401, { message: "Not authenticated", httpStatusCode: 401 });
    }
    if (req.method === "POST" && path === "/auth/token/release") {
      tokens.delete(token);
      statsOf(name).released++;
      return status(200);
    }
    if (instance.fail && instance.fail.path === path)
      return status(instance.fail.status, { message: "injected fault" });
    const deployment = options.scenario.deployments[instance.deployment ?? "lab"];
    if (!deployment || req.method !== "GET") return status(404, { message: "not found" });
    if (path === "/collectors") return status(200, renderCollectors(deployment, instance.release));
    if (path === "/collectorgroups") return status(200, renderGroups(deployment, instance.release));
    if (path === "/adapterkinds")
      return status(200, {
        "adapter-kind": [...baseKinds, ...casa.installedKinds(name)].map((key) => ({ key, name: key })),
      });
    if (path === "/adapters")
      return status(200, renderAdapters(deployment, url.searchParams.get("adapterKindKey") ?? undefined));
    return status(404, { message: "not found" });
  };
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve),
  );
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    stats,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function renderCollectors(d: SimDeployment, release: SimInstance["release"]) {
  const types = {
    internal: "INTERNAL",
    "cloud-proxy": "CLOUD_PROXY",
    "unified-cloud-proxy": "UNIFIED_CLOUD_PROXY",
    remote: "REMOTE",
  };
  return {
    collector: d.collectors.map((c) => ({
      id: String(c.id),
      name: c.name,
      ...(c.hostName === undefined ? {} : { hostName: c.hostName }),
      state: c.state,
      // Aria Operations 8 has no type: there `local` is all that tells an analytics node apart.
      ...(release === "vcf9" ? { type: types[c.role] } : {}),
      local: c.role === "internal",
      lastHeartbeat: Date.now(),
      uuId: randomUUID(),
      nodeIdentifier: randomUUID(),
    })),
  };
}

function renderGroups(d: SimDeployment, release: SimInstance["release"]) {
  const nameOf = new Map(d.collectors.map((c) => [c.id, c.name]));
  return {
    collectorGroups: d.groups.map((g) => ({
      id: g.id,
      name: g.name,
      description: `${g.name} (simulated)`,
      // Numbers in VCF Operations 9; member objects in the older shape.
      collectorId: release === "vcf9" ? g.members : g.members.map((id) => ({ id, name: nameOf.get(id) })),
      systemDefined: false,
    })),
  };
}

function renderAdapters(d: SimDeployment, kind: string | undefined) {
  return {
    adapterInstancesInfoDto: d.adapters
      .filter((a) => kind === undefined || a.kind === kind)
      .map((a) => ({
        resourceKey: {
          name: a.name,
          adapterKindKey: a.kind,
          resourceKindKey: `${a.kind}Instance`,
          resourceIdentifiers: [],
        },
        description: "",
        ...(a.collector === undefined ? {} : { collectorId: a.collector }),
        ...(a.group === undefined ? {} : { collectorGroupId: a.group }),
        id: a.id,
      })),
  };
}

function send(res: ServerResponse, code: number, payload: unknown): void {
  const text = JSON.stringify(payload);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    req.on("data", (c: Buffer) => {
      text += c.toString();
      if (text.length > 65536) req.destroy();
    });
    req.on("end", () => resolve(text));
    req.on("error", reject);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return {};
  }
}

/** Wait, or stop waiting when the client goes away. */
function sleep(ms: number, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    res.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      "password-file": { type: "string" },
    },
  });
  const need = (v: string | undefined, what: string) => {
    if (v === undefined) throw new Error(`--${what} is required`);
    return v;
  };
  const sim = await startOpsSimulator({
    scenario: JSON.parse(readFileSync(need(values.scenario, "scenario"), "utf8")) as SimScenario,
    password: readFileSync(need(values["password-file"], "password-file"), "utf8").trim(),
    cert: readFileSync(need(values.cert, "cert"), "utf8"),
    key: readFileSync(need(values.key, "key"), "utf8"),
    host: values.host ?? "127.0.0.1",
    port: Number(need(values.port, "port")),
    log: (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`),
  });
  process.stdout.write(`ops simulator on ${sim.url}\n`);
  const stop = () => void sim.close().then(() => process.exit(0));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`ops simulator: ${(error as Error).message}\n`);
    process.exit(1);
  });
}
