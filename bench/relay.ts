/**
 * Relay benchmark: what the registry serves, and how long it takes, for N proxies pulling
 * directly against N isolated proxies through `pull --relay`; the tool's peak RSS while relaying.
 * Runs its own lab (`.lab-relay`, ports 42600+) with N proxies and N isolated ones.
 *
 *   npm run bench:relay [-- --proxies 8 --image-mb 100 --keep]
 *   npm run bench:relay -- --throttle-mbit 200     the registry behind a link of 200 Mbit/s
 *   npm run bench:relay -- --relay-only --big-mb 1024     only the relayed run of a 1 GiB image
 *     (the lab's `big-image`: one layer of random bytes), for its peak RSS
 *
 * The bytes are the registry's own (its access log: the size of each blob answer with 200).
 * With --throttle-mbit every client reaches the registry through one throttling front
 * (bench/throttle.ts) under a name of its own port: one proxy's direct pull, N direct pulls and
 * the relayed pull onto N isolated proxies all share that one link.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import Docker from "dockerode";
import { root, runTool, startBenchLab } from "./bench-lab.js";
import { startThrottle } from "./throttle.js";

const { values } = parseArgs({
  options: {
    proxies: { type: "string" },
    "image-mb": { type: "string" },
    "throttle-mbit": { type: "string" },
    "relay-only": { type: "boolean" },
    "big-mb": { type: "string" },
    keep: { type: "boolean" },
  },
});
const proxies = Number(values.proxies ?? 8);
const imageMb = Number(values["image-mb"] ?? 100);
const throttleMbit = values["throttle-mbit"] === undefined ? undefined : Number(values["throttle-mbit"]);
const bench = startBenchLab("relay", 42600, proxies, imageMb);
const lab = bench.lab;
bench.ctl("isolated", "up", String(proxies));
const bigMb = values["big-mb"] === undefined ? undefined : Number(values["big-mb"]);
if (bigMb !== undefined) bench.ctl("big-image", String(bigMb));
const pak = bigMb === undefined ? lab.paks.sample : join(lab.dir, "paks", `big-${bigMb}.pak`);
/** The image's repository and digest: the sample's, or the big image's (its digest stamp). */
const image =
  bigMb === undefined
    ? { repository: "/mp/test-adapter", digest: lab.sampleReference.split("@")[1] ?? "" }
    : {
        repository: `/mp/big-adapter-${bigMb}`,
        digest: readFileSync(join(lab.dir, `big-${bigMb}.digest`), "utf8").trim(),
      };

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
const secs = (ms: number) => (ms / 1000).toFixed(1).padStart(6);
const isolated = [
  ...["--inventory", join(lab.dir, "client", "inventory-isolated.yaml")],
  ...["--known-hosts", join(lab.dir, "client", "known_hosts-isolated")],
];
const direct = ["--inventory", lab.inventory, "--known-hosts", lab.knownHosts];

/** Every row of a --json report pulled. */
function allPulled(stdout: string, count: number): void {
  const rows = (JSON.parse(stdout) as { proxies: { status: string }[] }).proxies;
  const pulled = rows.filter((r) => r.status === "pulled").length;
  if (pulled !== count) throw new Error(`${pulled} of ${count} proxies pulled: ${stdout.slice(0, 2000)}`);
}

async function plainRun(): Promise<void> {
  await bench.clearAll();
  let before = blobBytesServed();
  const plain = values["relay-only"]
    ? undefined
    : await runTool(lab, ["pull", pak, ...direct, "--yes", "--json"], true);
  const directBytes = blobBytesServed() - before;
  await clearIsolated();
  before = blobBytesServed();
  const relayed = await runTool(lab, ["pull", pak, ...isolated, "--relay", "--yes", "--json"], true);
  allPulled(relayed.stdout, proxies);
  const relayBytes = blobBytesServed() - before;
  console.log(`\n${proxies} proxies, image ${bigMb ?? imageMb} MiB`);
  console.log(`way                   wall s   registry MiB served   peak RSS MB   tool CPU s`);
  const row = (name: string, run: typeof relayed, bytes: number) =>
    console.log(
      `${name.padEnd(20)} ${secs(run.ms)}   ${mib(bytes).padStart(19)}   ${run.rssMb.toFixed(0).padStart(11)}   ${(run.cpuMs / 1000).toFixed(1).padStart(10)}`,
    );
  if (plain) row(`direct (${proxies} pulls)`, plain, directBytes);
  row("--relay (isolated)", relayed, relayBytes);
  if (plain)
    console.log(`registry bytes, direct / relay: ${(directBytes / Math.max(relayBytes, 1)).toFixed(2)}x`);
}

/**
 * The registry behind one shared link: the same repository and digest under the front's port
 * (its own pak, and the lab's CA for that name in certs.d for the ordinary engines).
 */
async function throttledRun(mbit: number): Promise<void> {
  const [host, regPort] = lab.registry.split(":");
  const frontPort = Number(regPort) + 98;
  const front = `${host}:${frontPort}`;
  const certsD = `/etc/docker/certs.d/${front}`;
  mkdirSync(certsD, { recursive: true });
  copyFileSync(join(lab.dir, "ca", "ca.crt"), join(certsD, "ca.crt"));
  const tmp = mkdtempSync(join(tmpdir(), "bench-throttle-"));
  const linkPak = join(tmp, "throttled.pak");
  execFileSync(
    "node",
    [
      "--import",
      "tsx",
      "scripts/make-pak.ts",
      "--out",
      linkPak,
      "--kind",
      "LabAdapter",
      "--registry",
      front,
      "--repository",
      image.repository,
      "--digest",
      image.digest,
    ],
    { cwd: root, stdio: "inherit", input: "" },
  );
  const throttle = await startThrottle(
    { host: "::1", port: frontPort },
    { host: "::1", port: Number(regPort) },
    mbit,
  );
  try {
    const one = ["--limit", "proxy-1"];
    const ways: [string, () => Promise<Awaited<ReturnType<typeof runTool>>>, number][] = [
      [
        "direct, 1 proxy",
        () => runTool(lab, ["pull", linkPak, ...direct, ...one, "--yes", "--json"], true),
        1,
      ],
      [
        `direct, ${proxies} proxies`,
        () => runTool(lab, ["pull", linkPak, ...direct, "--yes", "--json"], true),
        proxies,
      ],
      [
        `--relay, ${proxies} isolated`,
        () => runTool(lab, ["pull", linkPak, ...isolated, "--relay", "--yes", "--json"], true),
        proxies,
      ],
      // The machine's own bounds, without the link: the engines and sshd on these 2 cores.
      [
        `direct, ${proxies}, no link`,
        () => runTool(lab, ["pull", pak, ...direct, "--yes", "--json"], true),
        proxies,
      ],
      [
        `--relay, ${proxies}, no link`,
        () => runTool(lab, ["pull", pak, ...isolated, "--relay", "--yes", "--json"], true),
        proxies,
      ],
    ];
    console.log(`\nthe registry behind one ${mbit} Mbit/s link; image ${bigMb ?? imageMb} MiB`);
    console.log(`way                      wall s   MiB over the link   peak RSS MB   tool CPU s`);
    const wall: number[] = [];
    for (const [name, work, count] of ways) {
      await bench.clearAll();
      await clearIsolated();
      const before = throttle.bytes();
      const run = await work();
      allPulled(run.stdout, count);
      wall.push(run.ms);
      console.log(
        `${name.padEnd(23)} ${secs(run.ms)}   ${mib(throttle.bytes() - before).padStart(17)}   ${run.rssMb.toFixed(0).padStart(11)}   ${(run.cpuMs / 1000).toFixed(1).padStart(10)}`,
      );
    }
    const [single = NaN, many = NaN, relayed = NaN] = wall;
    console.log(
      `--relay onto ${proxies} / one direct pull: ${(relayed / single).toFixed(2)}x (target <= 1.3x)`,
    );
    console.log(
      `${proxies} direct pulls / --relay onto ${proxies}: ${(many / relayed).toFixed(2)}x (target >= 6x)`,
    );
  } finally {
    await throttle.close();
    rmSync(certsD, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
}

try {
  if (throttleMbit === undefined) await plainRun();
  else await throttledRun(throttleMbit);
} finally {
  if (!values.keep) bench.ctl("down");
}
