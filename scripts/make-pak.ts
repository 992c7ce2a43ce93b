/**
 * Write paks the way mp-build does, from the command line (the lab uses it):
 *   node --import tsx scripts/make-pak.ts --out FILE --kind KIND [--registry R] --repository /P --digest D
 *     [--and --kind KIND2 ... ] [--out FILE2 ...]
 * Each --out starts a new pak, each --and another adapter (with its own zip) in the same pak.
 */
import { writePak, type AdapterSpec } from "./pak-writer.js";

interface Job {
  out: string;
  adapters: AdapterSpec[];
}

function parse(argv: string[]): Job[] {
  const jobs: Job[] = [];
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    if (flag === "--and") {
      const job = jobs.at(-1);
      if (!job) throw new Error("start with --out FILE");
      job.adapters.push({ kind: "SampleAdapter", zipName: `adapter${job.adapters.length + 1}.zip` });
      i -= 1;
      continue;
    }
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--out") {
      jobs.push({ out: value, adapters: [{ kind: "SampleAdapter" }] });
      continue;
    }
    const adapter = jobs.at(-1)?.adapters.at(-1);
    if (!adapter) throw new Error("start with --out FILE");
    if (flag === "--kind") adapter.kind = value;
    else if (flag === "--registry") adapter.registry = value;
    else if (flag === "--repository") adapter.repository = value;
    else if (flag === "--digest") adapter.digest = value;
    else throw new Error(`unknown option ${flag}`);
  }
  return jobs;
}

const jobs = parse(process.argv.slice(2));
for (const job of jobs) {
  await writePak(job.out, { name: job.adapters[0]?.kind, version: "1.0.0", adapters: job.adapters });
}
