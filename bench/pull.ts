/**
 * `pull` on a lab of N proxies, against a plain `ssh … docker login && docker pull` loop, both
 * sequential and parallel, and against the floor: every engine pulling on its own unix socket
 * at once, with no SSH at all. Runs its own lab (its own folder and ports), so it does not
 * disturb the test lab, and tears it down afterwards.
 *
 *   npm run bench:pull [-- --proxies 8 --image-mb 32 --runs 3]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { medianRun, runTool, sshLoginPull, startBenchLab } from "./bench-lab.js";

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
const bench = startBenchLab("bench", 42300, proxies, Number(values["image-mb"] ?? 32));
const labDir = bench.dir;
const { lab } = bench;

const tool = (concurrency: number) =>
  runTool(lab, [
    "pull",
    join(labDir, "paks/sample.pak"),
    "--inventory",
    join(labDir, "client/inventory.yaml"),
    "--known-hosts",
    join(labDir, "client/known_hosts"),
    "--concurrency",
    String(concurrency),
    "--json",
  ]);

const sequential = async (one: (i: number) => Promise<void>) => {
  for (let i = 0; i < proxies; i++) await one(i);
};
const parallel = (one: (i: number) => Promise<void>) =>
  Promise.all(Array.from({ length: proxies }, (_, i) => one(i))).then(() => undefined);

const time = async (name: string, work: () => Promise<unknown>): Promise<[string, number]> => [
  name,
  await medianRun(bench, runs, name, work),
];
const baselineOne = (index: number) => sshLoginPull(lab, lab.firstSshPort + index, lab.knownHosts);

try {
  const rows: [string, number][] = [];
  rows.push(await time("floor: engines pull locally, all at once", () => bench.pullLocally()));
  rows.push(await time("ssh + docker login/pull, sequential", () => sequential(baselineOne)));
  rows.push(await time("ssh + docker login/pull, parallel", () => parallel(baselineOne)));
  rows.push(await time("mp-sideload pull --concurrency 1", () => tool(1)));
  rows.push(await time(`mp-sideload pull --concurrency ${proxies}`, () => tool(proxies)));
  for (let i = 1; i <= proxies; i++) bench.ctl("forwarding", String(i), "off");
  rows.push(await time(`mp-sideload pull --concurrency ${proxies} (dial-stdio)`, () => tool(proxies)));
  for (let i = 1; i <= proxies; i++) bench.ctl("forwarding", String(i), "on");

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
  if (!values.keep) bench.ctl("down");
}
