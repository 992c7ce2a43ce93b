/**
 * Write paks the way mp-build does, from the command line (the lab uses it):
 *   node --import tsx scripts/make-pak.ts --out FILE --kind KIND [--registry R] --repository /P --digest D [--out ...]
 * Each --out starts a new pak; the options after it describe that pak's single adapter.
 */
import { writePak, type AdapterSpec } from "./pak-writer.js";

interface Job {
  out: string;
  adapter: AdapterSpec;
}

function parse(argv: string[]): Job[] {
  const jobs: Job[] = [];
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--out") {
      jobs.push({ out: value, adapter: { kind: "SampleAdapter" } });
      continue;
    }
    const job = jobs.at(-1);
    if (!job) throw new Error("start with --out FILE");
    if (flag === "--kind") job.adapter.kind = value;
    else if (flag === "--registry") job.adapter.registry = value;
    else if (flag === "--repository") job.adapter.repository = value;
    else if (flag === "--digest") job.adapter.digest = value;
    else throw new Error(`unknown option ${flag}`);
  }
  return jobs;
}

const jobs = parse(process.argv.slice(2));
for (const job of jobs) {
  await writePak(job.out, { name: job.adapter.kind, version: "1.0.0", adapters: [job.adapter] });
}
