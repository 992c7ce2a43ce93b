import { hostPort, printable } from "../errors.js";
import { routeOf, type Proxy } from "../inventory/proxy.js";
import { imagesFor } from "./proxy-images.js";
import type { SideloadJob } from "./types.js";

export interface PlannedProxy {
  proxy: Proxy;
  /** `you → bastion-1 → cp-east-1`. */
  route: string;
  steps: string[];
}

/**
 * What `pull` (or `verify`) would do on each proxy, without connecting to anything: the plan
 * `--dry-run` prints. Pure: the same inputs always give the same plan.
 */
export function planSideload(proxies: Proxy[], job: SideloadJob, knownHostsFile: string): PlannedProxy[] {
  return proxies.map((proxy) => {
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
        steps.push(
          `  if not: check the registry credentials for ${image.registry} from the proxy (engine POST /auth)`,
        );
      }
      steps.push(`  then pull ${image.reference} (credentials only in the X-Registry-Auth header)`);
      steps.push(`  then verify that the image's RepoDigests holds exactly ${image.reference}`);
    }
    return { proxy, route: printable(routeOf(proxy)), steps };
  });
}
