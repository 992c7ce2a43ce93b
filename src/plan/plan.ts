import { registryPort } from "../relay/proxy-relay.js";
import { hostOnly } from "../relay/relay.js";
import { hostPort, printable } from "../errors.js";
import { routeOf, type Proxy } from "../inventory/proxy.js";
import { imagesFor } from "../sideload/proxy-images.js";
import { sideloadSteps } from "./steps.js";
import type { AdapterImage, SideloadJob } from "../sideload/types.js";

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

/**
 * The steps once for every proxy, references and hosts left out: the short plan's body. One
 * line (or two) for each step `sideloadSteps` says will run, in its order.
 */
export function planOutline(job: SideloadJob, knownHostsFile: string): string[] {
  const { open, image, after } = sideloadSteps(job);
  const lines: Record<(typeof open)[number] | (typeof image)[number] | (typeof after)[number], string[]> = {
    connect: [
      `connect over SSH (jump hosts first); host keys checked against ${printable(knownHostsFile)} before any credential goes out`,
    ],
    engine: [
      "reach the Docker Engine through that connection (/var/run/docker.sock, else the proxy's DOCKER_HOST)",
    ],
    present: ["check whether the engine already holds each image, by its exact digest"],
    login: [
      ...(job.registryCa === undefined
        ? []
        : ["if one is missing: install the registry CA as /etc/docker/certs.d/<registry>/ca.crt"]),
      "if one is missing: check the registry credentials from the proxy (engine POST /auth)",
      ...(job.relay?.mode === "auto"
        ? [
            "if the proxy's engine cannot reach the registry (REGISTRY_UNREACHABLE): the relay instead (--relay auto)",
          ]
        : []),
    ],
    relay: [
      "if one is missing: the relay: a marked /etc/hosts line maps the registry's host to 127.0.0.1 and an SSH remote forward there leads to mp-sideload's relay (no credential on the proxy; undone at the end)",
    ],
    pull: ["then pull it by digest (credentials only in the X-Registry-Auth header)"],
    verify: ["then verify that the image's RepoDigests holds exactly its reference"],
    prune: [pruneLine(job, "their repositories")],
  };
  return [...open, ...image, ...after].flatMap((step) => lines[step]);
}

/** `pull --prune`'s step in words. */
function pruneLine(job: SideloadJob, whose: string): string {
  const keep = job.prune?.keep ?? 0;
  return `once every image is there: remove the old images of ${whose}, keeping ${keep} besides the current ones (never one a container uses)`;
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

/** Every step on `proxy`, in the order `sideloadSteps` runs them, references and hosts spelt out. */
function proxySteps(proxy: Proxy, job: SideloadJob, knownHostsFile: string): string[] {
  const { image: imageSteps, after } = sideloadSteps(job);
  const steps = [...connectLines(proxy, knownHostsFile), engineLine(proxy)];
  const registries = new Set<string>();
  for (const image of imagesFor(proxy, job.images)) {
    for (const step of imageSteps) steps.push(...imageStepLines(step, image, job, registries));
  }
  if (after.includes("prune")) steps.push(pruneLine(job, "the images' repositories"));
  return steps;
}

/** `connect`: the jump hosts first, then the proxy. */
function connectLines(proxy: Proxy, knownHostsFile: string): string[] {
  const hops = (proxy.jump ?? []).map(
    (hop) =>
      `connect to jump host ${printable(hop.name)} as ${hop.user}@${hostPort(hop.host, hop.port)} (shared by every proxy behind it); its host key checked first`,
  );
  return [
    ...hops,
    `connect ${proxy.user}@${hostPort(proxy.host, proxy.port)} over SSH${hops.length > 0 ? " through a channel of the last jump host" : ""}; host key checked against ${printable(proxy.knownHostsFiles?.[0] ?? knownHostsFile)} before any credential is sent`,
  ];
}

function engineLine(proxy: Proxy): string {
  return proxy.become?.enabled === true
    ? `reach the Docker Engine through that connection as ${proxy.become.user ?? "root"} through sudo (docker system dial-stdio${proxy.dockerSocket === undefined ? "" : ` -H unix://${proxy.dockerSocket}`}); the sudo password, if sudo wants one, on the channel's stdin`
    : `reach the Docker Engine through that connection (${proxy.dockerSocket ?? "/var/run/docker.sock, else the proxy's DOCKER_HOST"})`;
}

/** The relay's set-up on a proxy for `registry`, in words. */
function relayLine(registry: string): string {
  return `relay ${registry}: check the engine (/info) and that 127.0.0.1:${registryPort(registry)} is free on the proxy, forward it through this connection to mp-sideload's relay, and map ${hostOnly(registry)} to 127.0.0.1 with a marked line in /etc/hosts (as root or become; no credential on the proxy); all undone at the end`;
}

/** One image step in words; `login` (and the CA) once per registry, as the runner does. */
function imageStepLines(
  step: ReturnType<typeof sideloadSteps>["image"][number],
  image: AdapterImage,
  job: SideloadJob,
  registries: Set<string>,
): string[] {
  switch (step) {
    case "present":
      return [`check whether the engine already holds ${image.reference}`];
    case "login": {
      if (registries.has(image.registry)) return [];
      registries.add(image.registry);
      const ca = `  if not: install the registry CA as /etc/docker/certs.d/${image.registry}/ca.crt`;
      return [
        ...(job.registryCa === undefined ? [] : [ca]),
        `  if not: check the registry credentials for ${image.registry} from the proxy (engine POST /auth, unless this machine's check just accepted them)`,
        ...(job.relay?.mode === "auto"
          ? [
              `  if the proxy's engine cannot reach ${image.registry} (REGISTRY_UNREACHABLE): ${relayLine(image.registry)}`,
            ]
          : []),
      ];
    }
    case "relay": {
      if (registries.has(image.registry)) return [];
      registries.add(image.registry);
      return [`  if not: ${relayLine(image.registry)}`];
    }
    case "pull":
      return [`  then pull ${image.reference} (credentials only in the X-Registry-Auth header)`];
    case "verify":
      return [`  then verify that the image's RepoDigests holds exactly ${image.reference}`];
  }
}
