import { hostOnly } from "../relay/relay.js";
import { registryPort } from "../relay/proxy-relay.js";
import { hostPort, printable } from "../errors.js";
import { routeOf, type Proxy } from "../inventory/proxy.js";
import { imagesFor } from "./proxy-images.js";
import type { SideloadJob } from "./types.js";

export interface PlannedProxy {
  proxy: Proxy;
  /** `you → bastion-1 → cp-east-1`. */
  route: string;
  /** The long form (`--verbose`): every step on this proxy, references spelt out. */
  steps: string[];
  /** How SSH will authenticate, in the order tried: `agent, ~/.ssh/id_ed25519, password`. */
  auth: string;
  /** What will happen, in a few words: `pull 2 images where missing`. */
  action: string;
  /** The references this proxy works on. */
  references: string[];
}

/** Where SSH credentials come from in this run, as far as the plan can tell without connecting. */
export interface SshAuthPlan {
  /** SSH_AUTH_SOCK is set. */
  agent: boolean;
  /** --identity files. */
  identities: string[];
  /** The default keys (~/.ssh/id_*) that exist, tried when nothing names a key. */
  defaultIdentities: string[];
  /** The SSH password: from MP_SIDELOAD_SSH_PASSWORD, asked at the terminal, or none. */
  password: "environment" | "asked" | undefined;
  /** The home folder, written `~` in paths. */
  home?: string | undefined;
}

const noAuthPlan: SshAuthPlan = { agent: false, identities: [], defaultIdentities: [], password: undefined };

/**
 * What `pull` (or `verify`) would do on each proxy, without connecting to anything: the plan
 * `--dry-run` prints. Pure: the same inputs always give the same plan.
 */
export function planSideload(
  proxies: Proxy[],
  job: SideloadJob,
  knownHostsFile: string,
  auth: SshAuthPlan = noAuthPlan,
): PlannedProxy[] {
  return proxies.map((proxy) => {
    const images = imagesFor(proxy, job.images);
    return {
      proxy,
      route: printable(routeOf(proxy)),
      steps: proxySteps(proxy, job, knownHostsFile),
      auth: authOf(proxy, auth),
      action: actionOf(job, images.length),
      references: images.map((i) => i.reference),
    };
  });
}

/** The steps once for every proxy, references and hosts left out: the short plan's body. */
export function planOutline(job: SideloadJob, knownHostsFile: string): string[] {
  const steps = [
    `connect over SSH (jump hosts first); host keys checked against ${printable(knownHostsFile)} before any credential goes out`,
    "reach the Docker Engine through that connection (/var/run/docker.sock, else the proxy's DOCKER_HOST)",
    "check whether the engine already holds each image, by its exact digest",
  ];
  if (job.mode === "verify") return steps;
  if (job.registryCa !== undefined)
    steps.push("if one is missing: install the registry CA as /etc/docker/certs.d/<registry>/ca.crt");
  if (job.relay?.mode === "all")
    steps.push(
      "if one is missing: the relay: a marked /etc/hosts line maps the registry's host to 127.0.0.1, an SSH remote forward there leads to mp-sideload's relay (undone at the end)",
    );
  else steps.push("if one is missing: check the registry credentials from the proxy (engine POST /auth)");
  if (job.relay?.mode === "auto")
    steps.push("if the proxy's engine cannot reach the registry: the relay instead (--relay auto)");
  steps.push(
    "then pull it by digest (credentials only in the X-Registry-Auth header)",
    "then verify that the image's RepoDigests holds exactly its reference",
  );
  return steps;
}

function actionOf(job: SideloadJob, images: number): string {
  const count = `${images} image${images === 1 ? "" : "s"}`;
  if (job.mode === "verify") return `check ${count}`;
  return `pull ${count} ${images === 1 ? "if missing" : "where missing"}`;
}

/**
 * The SSH credential sources for `proxy`, in the order they are tried (auth-attempts.ts), short
 * enough for one line: `agent, ~/.ssh/id_ed25519 (+1 key), password`.
 */
function authOf(proxy: Proxy, auth: SshAuthPlan): string {
  const agent = proxy.agent === null || proxy.identitiesOnly ? false : Boolean(proxy.agent) || auth.agent;
  const keys = [
    ...new Set([
      ...(proxy.identity ? [proxy.identity] : []),
      ...auth.identities,
      ...(proxy.identityFiles ?? auth.defaultIdentities),
    ]),
  ];
  const password =
    proxy.password !== undefined
      ? "password (inventory)"
      : { environment: "password (env)", asked: "password", none: undefined }[auth.password ?? "none"];
  const more = keys.length > 1 ? ` (+${keys.length - 1} key${keys.length > 2 ? "s" : ""})` : "";
  const sources = [
    ...(agent ? ["agent"] : []),
    ...(keys[0] === undefined ? [] : [`${shortPath(keys[0], auth.home)}${more}`]),
    ...(password === undefined ? [] : [password]),
  ];
  return sources.length === 0 ? "no SSH credential found" : sources.join(", ");
}

/** `~/.ssh/id_ed25519`; a long path as its last two parts, `…/client/id_ed25519`. */
function shortPath(file: string, home: string | undefined): string {
  const tilde = home && file.startsWith(`${home}/`) ? `~${file.slice(home.length)}` : file;
  const parts = tilde.split("/");
  return printable(tilde.length > 32 && parts.length > 3 ? `…/${parts.slice(-2).join("/")}` : tilde);
}

/** Before the first pull from `registry`: the proxy's login, or the relay's set-up. */
function registrySteps(registry: string, job: SideloadJob): string[] {
  const relay = `relay ${registry}: check the engine (/info) and that 127.0.0.1:${registryPort(registry)} is free on the proxy, forward it through this connection to mp-sideload's relay, and map ${hostOnly(registry)} to 127.0.0.1 with a marked line in /etc/hosts (as root or become; no credential on the proxy); all undone at the end`;
  if (job.relay?.mode === "all") return [`  if not: ${relay}`];
  const login = `  if not: check the registry credentials for ${registry} from the proxy (engine POST /auth, unless this machine's check just accepted them)`;
  if (job.relay?.mode === "auto")
    return [login, `  if the proxy's engine cannot reach ${registry} (REGISTRY_UNREACHABLE): ${relay}`];
  return [login];
}

function proxySteps(proxy: Proxy, job: SideloadJob, knownHostsFile: string): string[] {
  const hops = (proxy.jump ?? []).map(
    (hop) =>
      `connect to jump host ${printable(hop.name)} as ${hop.user}@${hostPort(hop.host, hop.port)} (shared by every proxy behind it); its host key checked first`,
  );
  const steps = [
    ...hops,
    `connect ${proxy.user}@${hostPort(proxy.host, proxy.port)} over SSH${hops.length > 0 ? " through a channel of the last jump host" : ""}; host key checked against ${printable(proxy.knownHostsFiles?.[0] ?? knownHostsFile)} before any credential is sent`,
    proxy.become?.enabled === true
      ? `reach the Docker Engine through that connection as ${proxy.become.user ?? "root"} through sudo (docker system dial-stdio${proxy.dockerSocket === undefined ? "" : ` -H unix://${proxy.dockerSocket}`}); the sudo password, if sudo wants one, on the channel's stdin`
      : `reach the Docker Engine through that connection (${proxy.dockerSocket ?? "/var/run/docker.sock, else the proxy's DOCKER_HOST"})`,
  ];
  const registries = new Set<string>();
  for (const image of imagesFor(proxy, job.images)) {
    steps.push(`check whether the engine already holds ${image.reference}`);
    if (job.mode === "verify") continue;
    if (!registries.has(image.registry)) {
      registries.add(image.registry);
      if (job.registryCa !== undefined)
        steps.push(`  if not: install the registry CA as /etc/docker/certs.d/${image.registry}/ca.crt`);
      steps.push(...registrySteps(image.registry, job));
    }
    steps.push(`  then pull ${image.reference} (credentials only in the X-Registry-Auth header)`);
    steps.push(`  then verify that the image's RepoDigests holds exactly ${image.reference}`);
  }
  return steps;
}
