/**
 * What the benchmarks share: a lab of their own (own folder and ports, so the test lab is left
 * alone), the floor (every engine pulling on its own socket, no SSH), the manual baseline
 * (`ssh … docker login && docker pull` per proxy) and the median of timed runs.
 */
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { clearImages, engineOf, loadLab, pullDirect, repoDigests, type Lab } from "../test/lab/lab.js";

export const root = join(import.meta.dirname, "..");
export const bin = join(root, "bin/mp-sideload");

export interface BenchLab {
  lab: Lab;
  dir: string;
  /** 1 … proxies. */
  numbers: number[];
  /** Run a lab.sh command against this lab. */
  ctl: (...args: string[]) => void;
  /** Remove every image from every proxy. */
  clearAll: () => Promise<void>;
  /** True when every proxy holds the sample reference. */
  everywhere: (only?: number[]) => Promise<boolean>;
  /** The floor: every engine pulls the sample reference itself, all at once. */
  pullLocally: () => Promise<void>;
  /**
   * CPU time (ms) the proxies' sshd have used so far, their finished connections included (each
   * listener reaps its connection processes): the difference over a run is what SSH cost the
   * machine.
   */
  sshdCpuMs: () => number;
}

/**
 * Run mp-sideload (`bin/mp-sideload`, or `command`, e.g. the release's) with the lab registry's
 * credentials (or `creds`); `timed` adds its peak RSS and its CPU time, user + system (GNU time). Asynchronous: a benchmark's relays live in its own
 * process, and a synchronous spawn would stop them from forwarding anything while the tool waits
 * on them.
 */
export function runTool(
  lab: Lab,
  args: string[],
  timed = false,
  creds = { user: lab.registryUser, password: lab.registryPassword },
  command: string[] = [bin],
): Promise<{ ms: number; rssMb: number; cpuMs: number; stdout: string; spawnedAt: number }> {
  const start = process.hrtime.bigint();
  const spawnedAt = Date.now();
  const argv = timed ? ["/usr/bin/time", "-f", "%M %U %S", ...command, ...args] : [...command, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] ?? "", argv.slice(1), {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        CI: "1",
        MP_SIDELOAD_REGISTRY_USER: creds.user,
        MP_SIDELOAD_REGISTRY_PASSWORD: creds.password,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code !== 0)
        return reject(new Error(`mp-sideload exited ${code}: ${stderr.slice(-2000)} ${stdout.slice(-3000)}`));
      const [rssKb, user, system] = timed
        ? (stderr.trim().split("\n").at(-1) ?? "").split(" ").map(Number)
        : [];
      resolve({
        ms,
        rssMb: (rssKb ?? NaN) / 1024,
        cpuMs: ((user ?? NaN) + (system ?? NaN)) * 1000,
        stdout,
        spawnedAt,
      });
    });
  });
}

/** Bring up (or complete) a lab of `proxies` in `.lab-NAME` on ports from `port`, with an image of `imageMb` MiB. */
export function startBenchLab(name: string, port: number, proxies: number, imageMb: number): BenchLab {
  const dir = join(root, `.lab-${name}`);
  const env = {
    ...process.env,
    MP_LAB_DIR: dir,
    MP_LAB_PORT: String(port),
    MP_LAB_IMAGE_MB: String(imageMb),
  };
  const ctl = (...args: string[]) => {
    execFileSync("bash", [join(root, "scripts/lab.sh"), ...args], {
      env,
      stdio: ["ignore", "pipe", "inherit"],
    });
  };
  const t0 = Date.now();
  ctl("up", String(proxies));
  console.log(`lab of ${proxies} proxies up in ${Date.now() - t0} ms (image ${imageMb} MiB)`);
  const lab = loadLab(dir);
  const numbers = Array.from({ length: proxies }, (_, i) => i + 1);
  return {
    lab,
    dir,
    numbers,
    ctl,
    clearAll: async () => {
      for (const p of numbers) await clearImages(lab, p);
    },
    everywhere: async (only = numbers) => {
      for (const p of only) if (!(await repoDigests(lab, p)).includes(lab.sampleReference)) return false;
      return true;
    },
    sshdCpuMs: () =>
      numbers.reduce((sum, p) => sum + processCpuMs(join(dir, "proxies", `proxy-${p}`, "sshd.pid")), 0),
    pullLocally: () =>
      Promise.all(
        numbers.map((p) =>
          pullDirect(engineOf(lab, p), lab.sampleReference, {
            username: lab.registryUser,
            password: lab.registryPassword,
            serveraddress: lab.registry,
          }),
        ),
      ).then(() => undefined),
  };
}

/**
 * The manual way, for one proxy: one ssh, `docker login` (password on stdin, a throwaway
 * DOCKER_CONFIG) and `docker pull` of the sample reference.
 */
export function sshLoginPull(lab: Lab, port: number, knownHostsFile: string): Promise<void> {
  const remote = `export DOCKER_CONFIG=$(mktemp -d) && docker login -u ${lab.registryUser} --password-stdin ${lab.registry} >/dev/null 2>&1 && docker pull -q ${lab.sampleReference} >/dev/null; rc=$?; rm -rf "$DOCKER_CONFIG"; exit $rc`;
  const argv = [
    "-o",
    "BatchMode=yes",
    "-o",
    `UserKnownHostsFile=${knownHostsFile}`,
    "-i",
    lab.identity,
    "-p",
    String(port),
    "root@127.0.0.1",
    remote,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn("ssh", argv, { stdio: ["pipe", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`ssh … docker pull: exit ${code}: ${err}`)),
    );
    child.stdin.end(`${lab.registryPassword}\n`);
  });
}

/**
 * Median wall time of `runs` runs of `work`, each after `bench.clearAll()`; each run must
 * leave the image on every proxy (or on the proxies numbered in `only`).
 */
export async function medianRun(
  bench: BenchLab,
  runs: number,
  name: string,
  work: () => Promise<unknown>,
  only?: number[],
): Promise<number> {
  const { medians } = await interleavedRuns(bench, runs, [[name, work]], only);
  return medians[0] ?? NaN;
}

/**
 * Runs of several ways of doing the same job, interleaved (A B C, A B C, …), each after
 * `bench.clearAll()` and checked to leave the image everywhere (or on `only`): drift in the
 * machine's speed during a benchmark (the floor moves ±15% between runs here) then falls on every
 * way alike, and a ratio is taken within each round. Returns each way's median wall time and the
 * median, over the rounds, of each way's time over the first way's (and each round's ratio).
 */
export async function interleavedRuns(
  bench: BenchLab,
  runs: number,
  ways: [name: string, work: () => Promise<unknown>][],
  only?: number[],
): Promise<{ medians: number[]; ratios: number[]; rounds: number[][] }> {
  const samples: number[][] = ways.map(() => []);
  for (let r = 0; r < runs; r++) {
    for (const [i, [name, work]] of ways.entries()) {
      await bench.clearAll();
      const start = process.hrtime.bigint();
      await work();
      samples[i]?.push(Number(process.hrtime.bigint() - start) / 1e6);
      if (!(await bench.everywhere(only)))
        throw new Error(`${name}: not every proxy has ${bench.lab.sampleReference}`);
    }
  }
  const rounds = samples.map((way) => way.map((ms, r) => ms / (samples[0]?.[r] ?? NaN)));
  return { medians: samples.map(median), ratios: rounds.map(median), rounds };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

const clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

/** CPU time (ms) of the process in `pidFile` and of its reaped children, from /proc. */
function processCpuMs(pidFile: string): number {
  const pid = readFileSync(pidFile, "utf8").trim();
  // Fields after the command's closing parenthesis: utime stime cutime cstime are the 12th-15th.
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  const ticks = fields.slice(11, 15).reduce((sum, f) => sum + Number(f), 0);
  return (ticks * 1000) / clockTicks;
}

/** Median wall time (ms) of a bare `node -e 0`: what any Node.js command pays before its first line. */
export function bareNodeMs(runs = 5): number {
  const samples = Array.from({ length: runs }, () => {
    const start = process.hrtime.bigint();
    execFileSync(process.execPath, ["-e", "0"]);
    return Number(process.hrtime.bigint() - start) / 1e6;
  });
  return median(samples);
}
