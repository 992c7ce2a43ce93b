/**
 * Secrets on command lines: every process's `/proc/PID/cmdline` sampled while a run goes. The
 * lab's proxies run on this machine, so one scan sees both sides: the CLI and its children here,
 * and sshd, sudo and the docker CLI that the proxies start.
 */
import { readdir, readFile } from "node:fs/promises";
import { runCli } from "./cli.js";

/** Read every process's command line once; return those that contain any needle. */
export async function scanCmdlines(needles: string[]): Promise<string[]> {
  const hits: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`)).toString("utf8").replace(/\0/g, " ");
      if (needles.some((n) => cmdline.includes(n))) hits.push(`${pid}: ${cmdline}`);
    } catch {
      // the process ended between readdir and read
    }
  }
  return hits;
}

/** Run the CLI while sampling all command lines until it exits. */
export async function runWhileSampling(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string },
  needles: string[],
) {
  let done = false;
  let samples = 0;
  const hits: string[] = [];
  const sampler = (async () => {
    while (!done) {
      hits.push(...(await scanCmdlines(needles)));
      samples++;
    }
  })();
  const run = await runCli(args, options).finally(() => {
    done = true;
  });
  await sampler;
  return { run, hits, samples };
}
