/**
 * `inspect` on a 100 KiB pak and on a 1 GiB pak, against the floor of a Node CLI (`node -e 0`)
 * and, for reference, `unzip -p` and Python's zipfile doing the same extraction (the adapter
 * zip out of the pak, then the .conf out of it). Wall time (median) and peak RSS (max) per tool.
 *
 *   npm run bench:inspect [-- --runs 15 --gib 1]
 *
 * Targets (issue 2): 1 GiB within 10% of 100 KiB; under 2x the bare Node start; peak RSS
 * under 100 MB whatever the pak size. Issue 17: a 1 GiB pak of 1,000 files (every record of its
 * central directory parsed by yauzl) within 2.5x the bare Node start. Issue 27: `inspect` from the
 * one-file release (`release/mp-sideload.mjs`, with node) within 1.3x the bare Node start; the
 * single executable's row for comparison.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { sampleDigest } from "../scripts/fixture-catalogue.js";
import { writePak } from "../scripts/pak-writer.js";

const { values } = parseArgs({
  options: { runs: { type: "string" }, gib: { type: "string" }, files: { type: "string" } },
});
const files = Number(values.files ?? 1000);
const runs = Number(values.runs ?? 15);
const gib = Number(values.gib ?? 1);
const root = join(import.meta.dirname, "..");
const bin = join(root, "bin/mp-sideload");
const releaseMjs = join(root, "release/mp-sideload.mjs");
const releaseExe = join(root, "release/mp-sideload-linux-x64");

interface Measure {
  medianMs: number;
  minMs: number;
  peakRssMb: number;
}

/** One run of a command under GNU time: wall ms (hrtime, since %e has 10 ms resolution), peak RSS MB. */
function once(argv: string[]): { ms: number; rssMb: number } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-f", "%M", ...argv], { encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr}`);
  return { ms, rssMb: Number(r.stderr.trim().split("\n").at(-1)) / 1024 };
}

/**
 * Run every command `runs` times after one warm-up run each, round-robin: on a shared machine
 * the load drifts, and interleaving makes a drift hit every row alike, not one row.
 */
function runAll(commands: string[][]): Measure[] {
  const times = commands.map(() => [] as number[]);
  const rss = commands.map(() => 0);
  for (let i = 0; i < runs + 1; i++) {
    commands.forEach((argv, c) => {
      const { ms, rssMb } = once(argv);
      if (i === 0) return;
      times[c]!.push(ms);
      rss[c] = Math.max(rss[c]!, rssMb);
    });
  }
  return times.map((t, c) => {
    t.sort((a, b) => a - b);
    return { medianMs: t[Math.floor(t.length / 2)] ?? 0, minMs: t[0] ?? 0, peakRssMb: rss[c]! };
  });
}

const dir = await mkdtemp(join(tmpdir(), "mp-sideload-bench-"));
try {
  const adapter = {
    kind: "SampleAdapter",
    registry: "harbor.example.com:8443",
    repository: "/mp/sample-adapter",
    digest: sampleDigest,
  };
  const small = join(dir, "small.pak");
  const large = join(dir, "large.pak");
  const many = join(dir, "many.pak");
  await writePak(small, { adapters: [adapter], contentBytes: 96 * 1024 });
  await writePak(large, { adapters: [adapter], contentBytes: gib * 1024 * 1024 * 1024 });
  await writePak(many, { adapters: [adapter], contentBytes: gib * 1024 * 1024 * 1024, contentFiles: files });
  const sizes = { small: (await stat(small)).size, large: (await stat(large)).size };

  const unzipShell = (pak: string) => [
    "sh",
    "-c",
    `unzip -p '${pak}' adapter.zip > '${dir}/a.zip' && unzip -p '${dir}/a.zip' SampleAdapter.conf >/dev/null`,
  ];
  const python = (pak: string) => [
    "python3",
    "-c",
    `import zipfile,io,sys\nz=zipfile.ZipFile(sys.argv[1])\na=zipfile.ZipFile(io.BytesIO(z.read('adapter.zip')))\na.read('SampleAdapter.conf')`,
    pak,
  ];
  const commands: [string, string[]][] = [
    ["node -e 0 (floor)", ["node", "-e", "0"]],
    ["mp-sideload inspect, 100 KiB pak", [bin, "inspect", small, "--json"]],
    [`mp-sideload inspect, ${gib} GiB pak`, [bin, "inspect", large, "--json"]],
    [`mp-sideload inspect, ${gib} GiB, ${files} files`, [bin, "inspect", many, "--json"]],
    ["release .mjs inspect, 100 KiB pak", ["node", releaseMjs, "inspect", small, "--json"]],
    [`release .mjs inspect, ${gib} GiB, ${files} files`, ["node", releaseMjs, "inspect", many, "--json"]],
    ["release executable inspect, 100 KiB", [releaseExe, "inspect", small, "--json"]],
    ["unzip -p, 100 KiB pak", unzipShell(small)],
    [`unzip -p, ${gib} GiB pak`, unzipShell(large)],
    ["python3 zipfile, 100 KiB pak", python(small)],
    [`python3 zipfile, ${gib} GiB pak`, python(large)],
  ];
  const measures = runAll(commands.map(([, argv]) => argv));
  const rows = commands.map(([name], i): [string, Measure] => [name, measures[i]!]);

  console.log(
    `inspect benchmark: ${runs} runs each after a warm-up, interleaved; paks of ${sizes.small} and ${sizes.large} bytes`,
  );
  console.log(
    `${"".padEnd(44)} ${"median ms".padStart(10)} ${"min ms".padStart(8)} ${"peak RSS MB".padStart(12)}`,
  );
  for (const [name, m] of rows) {
    console.log(
      `${name.padEnd(44)} ${m.medianMs.toFixed(1).padStart(10)} ${m.minMs.toFixed(1).padStart(8)} ${m.peakRssMb.toFixed(1).padStart(12)}`,
    );
  }
  const floor = rows[0]![1];
  const smallM = rows[1]![1];
  const largeM = rows[2]![1];
  const manyM = rows[3]![1];
  const largeVsSmall = largeM.medianMs / smallM.medianMs;
  const vsFloor = Math.max(smallM.medianMs, largeM.medianMs) / floor.medianMs;
  const manyVsFloor = manyM.medianMs / floor.medianMs;
  const rss = Math.max(smallM.peakRssMb, largeM.peakRssMb, manyM.peakRssMb);
  const releaseVsFloor = Math.max(rows[4]![1].medianMs, rows[5]![1].medianMs) / floor.medianMs;
  const exeVsFloor = rows[6]![1].medianMs / floor.medianMs;
  console.log("");
  console.log(
    `${gib} GiB / 100 KiB:        ${largeVsSmall.toFixed(3)}x  (target ≤ 1.10x) ${largeVsSmall <= 1.1 ? "met" : "MISSED"}`,
  );
  console.log(
    `inspect / node -e 0:    ${vsFloor.toFixed(2)}x  (target < 2x)    ${vsFloor < 2 ? "met" : "MISSED"}`,
  );
  console.log(
    `${files} files / node -e 0: ${manyVsFloor.toFixed(2)}x  (target ≤ 2.5x)  ${manyVsFloor <= 2.5 ? "met" : "MISSED"}`,
  );
  console.log(
    `release .mjs / node -e 0: ${releaseVsFloor.toFixed(2)}x (target ≤ 1.3x) ${releaseVsFloor <= 1.3 ? "met" : "MISSED"}; the executable ${exeVsFloor.toFixed(2)}x`,
  );
  console.log(
    `peak RSS:               ${rss.toFixed(1)} MB (target < 100 MB) ${rss < 100 ? "met" : "MISSED"}`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
