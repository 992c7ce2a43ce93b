/**
 * Relay benchmark: what the registry serves, and how long it takes, for N proxies pulling
 * directly against N isolated proxies through `pull --relay`; the tool's peak RSS while relaying.
 * Runs its own lab (`.lab-relay`, ports 42600+) with N proxies and N isolated ones.
 *
 *   npm run bench:relay [-- --proxies 8 --image-mb 100 --keep]
 *
 * The bytes are the registry's own (its access log: the size of each blob answer with 200).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import Docker from "dockerode";
import { runTool, startBenchLab } from "./bench-lab.js";

const { values } = parseArgs({
  options: { proxies: { type: "string" }, "image-mb": { type: "string" }, keep: { type: "boolean" } },
});
const proxies = Number(values.proxies ?? 8);
const imageMb = Number(values["image-mb"] ?? 100);
const bench = startBenchLab("relay", 42600, proxies, imageMb);
const lab = bench.lab;
bench.ctl("isolated", "up", String(proxies));

/** Bytes of blobs the registry has answered with 200 so far. */
function blobBytesServed(): number {
  const log = readFileSync(join(lab.dir, "registry", "registry.log"), "utf8");
  let bytes = 0;
  for (const m of log.matchAll(/"GET \/v2\/[^ ]+\/blobs\/sha256:[0-9a-f]{64} HTTP\/1\.1" 200 (\d+)/g)) {
    bytes += Number(m[1]);
  }
  return bytes;
}

async function clearIsolated(): Promise<void> {
  for (let j = 1; j <= proxies; j++) {
    const engine = new Docker({ socketPath: join(lab.run, `i${j}`, "docker.sock") });
    for (const image of await engine.listImages()) await engine.getImage(image.Id).remove({ force: true });
  }
}

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const isolated = [
  ...["--inventory", join(lab.dir, "client", "inventory-isolated.yaml")],
  ...["--known-hosts", join(lab.dir, "client", "known_hosts-isolated")],
];
const direct = ["--inventory", lab.inventory, "--known-hosts", lab.knownHosts];

try {
  await bench.clearAll();
  let before = blobBytesServed();
  const plain = await runTool(lab, ["pull", lab.paks.sample, ...direct, "--yes", "--json"], true);
  const directBytes = blobBytesServed() - before;
  await clearIsolated();
  before = blobBytesServed();
  const relayed = await runTool(
    lab,
    ["pull", lab.paks.sample, ...isolated, "--relay", "--yes", "--json"],
    true,
  );
  const relayBytes = blobBytesServed() - before;
  console.log(`\n${proxies} proxies, image ${imageMb} MiB`);
  console.log(`way                   wall s   registry MiB served   peak RSS MB`);
  console.log(
    `direct (${proxies} pulls)     ${(plain.ms / 1000).toFixed(1).padStart(6)}   ${mib(directBytes).padStart(19)}   ${plain.rssMb.toFixed(0).padStart(11)}`,
  );
  console.log(
    `--relay (isolated)   ${(relayed.ms / 1000).toFixed(1).padStart(6)}   ${mib(relayBytes).padStart(19)}   ${relayed.rssMb.toFixed(0).padStart(11)}`,
  );
  console.log(`registry bytes, direct / relay: ${(directBytes / Math.max(relayBytes, 1)).toFixed(2)}x`);
} finally {
  if (!values.keep) bench.ctl("down");
}
