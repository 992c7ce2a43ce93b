/**
 * `pull` on a lab of N proxies, against a plain `ssh … docker login && docker pull` loop, both
 * sequential and parallel, and against the floor: every engine pulling on its own unix socket
 * at once, with no SSH at all. Runs its own lab (its own folder and ports), so it does not
 * disturb the test lab, and tears it down afterwards.
 *
 *   npm run bench:pull [-- --proxies 8 --image-mb 32 --runs 3]
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { clearImages, engineOf, loadLab, pullDirect, repoDigests } from "../test/lab/lab.js";

const { values } = parseArgs({
  options: {
    proxies: { type: "string" },
    "image-mb": { type: "string" },
    runs: { type: "string" },
    keep: { type: "boolean" },
  },
});
const proxies = Number(values.proxies ?? 8);
const runs = Number(values.runs ?? 3);
const root = join(import.meta.dirname, "..");
const bin = join(root, "bin/mp-sideload");
const labDir = join(root, ".lab-bench");
const env = {
  ...process.env,
  MP_LAB_DIR: labDir,
  MP_LAB_PORT: "42300",
  MP_LAB_IMAGE_MB: values["image-mb"] ?? "32",
};
const lab = (...args: string[]) =>
  execFileSync("bash", [join(root, "scripts/lab.sh"), ...args], {
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });

const t0 = Date.now();
lab("up", String(proxies));
console.log(`lab of ${proxies} proxies up in ${Date.now() - t0} ms (image ${env.MP_LAB_IMAGE_MB} MiB)`);
const bench = loadLab(labDir);
const { registry, sampleReference: reference, registryUser: user, registryPassword: password } = bench;
const proxyNumbers = Array.from({ length: proxies }, (_, i) => i + 1);

async function clearAll(): Promise<void> {
  for (const p of proxyNumbers) await clearImages(bench, p);
}

async function hasImageEverywhere(): Promise<boolean> {
  for (const p of proxyNumbers) if (!(await repoDigests(bench, p)).includes(reference)) return false;
  return true;
}

function sh(argv: string[], stdin: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] ?? "", argv.slice(1), { stdio: ["pipe", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`${argv.join(" ")}: exit ${code}: ${err}`)),
    );
    child.stdin.end(stdin);
  });
}

/** The manual way: one ssh per proxy, docker login (password on stdin) and docker pull. */
function baselineOne(index: number): Promise<void> {
  const remote = `export DOCKER_CONFIG=$(mktemp -d) && docker login -u ${user} --password-stdin ${registry} >/dev/null 2>&1 && docker pull -q ${reference} >/dev/null; rc=$?; rm -rf "$DOCKER_CONFIG"; exit $rc`;
  return sh(
    [
      "ssh",
      "-o",
      "BatchMode=yes",
      "-o",
      `UserKnownHostsFile=${join(labDir, "client/known_hosts")}`,
      "-i",
      join(labDir, "client/id_ed25519"),
      "-p",
      String(bench.firstSshPort + index),
      "root@127.0.0.1",
      remote,
    ],
    `${password}\n`,
  );
}

function floorOne(index: number): Promise<void> {
  return pullDirect(engineOf(bench, index + 1), reference, {
    username: user,
    password,
    serveraddress: registry,
  });
}

function tool(concurrency: number): Promise<void> {
  const r = spawnSync(
    bin,
    [
      "pull",
      join(labDir, "paks/sample.pak"),
      "--inventory",
      join(labDir, "client/inventory.yaml"),
      "--known-hosts",
      join(labDir, "client/known_hosts"),
      "--concurrency",
      String(concurrency),
      "--json",
    ],
    {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        CI: "1",
        MP_SIDELOAD_REGISTRY_USER: user,
        MP_SIDELOAD_REGISTRY_PASSWORD: password,
      },
      encoding: "utf8",
    },
  );
  if (r.status !== 0)
    return Promise.reject(new Error(`mp-sideload exited ${r.status}: ${r.stderr} ${r.stdout}`));
  return Promise.resolve();
}

const sequential = async (one: (i: number) => Promise<void>) => {
  for (let i = 0; i < proxies; i++) await one(i);
};
const parallel = (one: (i: number) => Promise<void>) =>
  Promise.all(Array.from({ length: proxies }, (_, i) => one(i))).then(() => undefined);

async function time(name: string, work: () => Promise<void>): Promise<[string, number]> {
  const samples: number[] = [];
  for (let r = 0; r < runs; r++) {
    await clearAll();
    const start = process.hrtime.bigint();
    await work();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (!(await hasImageEverywhere())) throw new Error(`${name}: not every proxy has ${reference}`);
  }
  samples.sort((a, b) => a - b);
  return [name, samples[Math.floor(samples.length / 2)] ?? 0];
}

try {
  const rows: [string, number][] = [];
  rows.push(await time("floor: engines pull locally, all at once", () => parallel(floorOne)));
  rows.push(await time("ssh + docker login/pull, sequential", () => sequential(baselineOne)));
  rows.push(await time("ssh + docker login/pull, parallel", () => parallel(baselineOne)));
  rows.push(await time("mp-sideload pull --concurrency 1", () => tool(1)));
  rows.push(await time(`mp-sideload pull --concurrency ${proxies}`, () => tool(proxies)));
  for (let i = 1; i <= proxies; i++) lab("forwarding", String(i), "off");
  rows.push(await time(`mp-sideload pull --concurrency ${proxies} (dial-stdio)`, () => tool(proxies)));
  for (let i = 1; i <= proxies; i++) lab("forwarding", String(i), "on");

  const floor = rows[0]?.[1] ?? 1;
  const get = (prefix: string) => rows.find(([n]) => n.startsWith(prefix))?.[1] ?? NaN;
  console.log(`\npull benchmark: ${proxies} proxies, median of ${runs} runs, images removed before each run`);
  console.log(`${"".padEnd(52)} ${"median ms".padStart(10)} ${"x floor".padStart(8)}`);
  for (const [name, ms] of rows)
    console.log(`${name.padEnd(52)} ${ms.toFixed(0).padStart(10)} ${(ms / floor).toFixed(2).padStart(8)}`);
  console.log("");
  console.log(
    `mp-sideload sequential vs ssh loop sequential: ${(get("mp-sideload pull --concurrency 1") / get("ssh + docker login/pull, sequential")).toFixed(2)}x the time`,
  );
  console.log(
    `mp-sideload parallel vs ssh loop parallel:     ${(get(`mp-sideload pull --concurrency ${proxies}`) / get("ssh + docker login/pull, parallel")).toFixed(2)}x the time`,
  );
  console.log(
    `dial-stdio vs stream-local:                     ${(get(`mp-sideload pull --concurrency ${proxies} (dial-stdio)`) / get(`mp-sideload pull --concurrency ${proxies}`)).toFixed(2)}x the time`,
  );
} finally {
  if (!values.keep) lab("down");
}
