/**
 * Writes every fixture pak of scripts/fixture-catalogue.ts under fixtures/ (or the folder given).
 * The output is deterministic: the tests check that the committed files are what this writes.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { badFixtures, goodFixtures } from "./fixture-catalogue.js";
import { writePak } from "./pak-writer.js";

export async function makeFixtures(dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const fixture of [...goodFixtures, ...badFixtures]) {
    const path = join(dir, fixture.file);
    if ("raw" in fixture.spec) await writeFile(path, await fixture.spec.raw());
    else await writePak(path, fixture.spec);
    written.push(path);
  }
  return written;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2] ?? "fixtures";
  const written = await makeFixtures(dir);
  console.log(`wrote ${written.length} fixture paks under ${dir}/`);
}
