/**
 * The lab's isolated proxies as the relay's lab tests use them (`scripts/lab.sh isolated up K`):
 * sshd and dockerd in network namespaces of their own with no route to the registry, each with a
 * private /etc/hosts (and the copy it started with), and the registry's own log of blob GETs.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import Docker from "dockerode";
import { labCtl, type Lab } from "./lab.js";

/** Helpers bound to `lab`'s isolated proxy `iso-J`. */
export function isolatedProxies(lab: Lab) {
  const isoDir = (j: number) => join(lab.dir, "isolated", `iso-${j}`);
  const engine = (j: number) => new Docker({ socketPath: join(lab.run, `i${j}`, "docker.sock") });
  return {
    /** The target flags of the isolated proxies' inventory and known_hosts. */
    targets: [
      ...["--inventory", join(lab.dir, "client", "inventory-isolated.yaml")],
      ...["--known-hosts", join(lab.dir, "client", "known_hosts-isolated")],
    ],
    hostsOf: (j: number) => readFile(join(isoDir(j), "hosts"), "utf8"),
    originalHostsOf: (j: number) => readFile(join(isoDir(j), "hosts.orig"), "utf8"),
    engine,
    /** Remove every image from iso-J's engine. */
    async clear(j: number): Promise<void> {
      for (const image of await engine(j).listImages())
        await engine(j).getImage(image.Id).remove({ force: true });
    },
  };
}

/** `count` isolated proxies up, their engines empty, and the lab's 40 MiB pak made; its path. */
export async function startIsolated(lab: Lab, count: number): Promise<string> {
  await labCtl("isolated", "up", String(count));
  await labCtl("big-image", "40");
  const iso = isolatedProxies(lab);
  for (let j = 1; j <= count; j++) await iso.clear(j);
  return join(lab.dir, "paks", "big-40.pak");
}

/** GETs of each blob the registry answered with 200, from its access log. */
export async function blobGets(lab: Lab): Promise<Map<string, number>> {
  const log = await readFile(join(lab.dir, "registry", "registry.log"), "utf8");
  const counts = new Map<string, number>();
  for (const m of log.matchAll(/"GET \/v2\/[^ ]+\/blobs\/(sha256:[0-9a-f]{64}) HTTP\/1\.1" 200 /g)) {
    counts.set(m[1] ?? "", (counts.get(m[1] ?? "") ?? 0) + 1);
  }
  return counts;
}
