/**
 * .dependency-cruiser.mjs, the layers of src/: `npm run deps` (depcruise with that rule file)
 * over a tree of modules written here, each import a case. The allowed ones must pass and each
 * deliberate wrong one must be reported under its rule, and nothing else.
 */
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");

/** Each module of the fixture tree and what it imports (paths inside src/). */
const tree: Record<string, string[]> = {
  // Allowed: downward, within a layer, and from anywhere to the bottom layer.
  "cli/main.ts": ["sideload/run-batch.ts", "pak/read-pak.ts", "misc/collectors.ts"],
  "sideload/run-batch.ts": ["doctor/doctor.ts", "engine/engine.ts", "ssh/connect.ts"],
  "doctor/doctor.ts": ["errors.ts"],
  "engine/engine.ts": ["credentials/resolve.ts", "streams.ts"],
  "credentials/resolve.ts": ["files.ts"],
  "files.ts": ["errors.ts"],
  "errors.ts": [],
  "streams.ts": [],
  // Wrong: pak above itself (to cli), ssh above itself by a type-only import (to sideload).
  "pak/read-pak.ts": ["cli/args.ts", "inventory/proxy.ts"],
  "cli/args.ts": [],
  "ssh/connect.ts": ["type:sideload/types.ts"],
  "sideload/types.ts": [],
  // Wrong: a cycle inside one layer (reported once, at the module cruised first).
  "inventory/proxy.ts": ["inventory/routes.ts"],
  "inventory/routes.ts": ["inventory/proxy.ts"],
  // Wrong: a module in no layer.
  "misc/collectors.ts": [],
};

function source(from: string, imports: string[]): string {
  const lines = imports.map((target, i) => {
    const typeOnly = target.startsWith("type:");
    const path = target.replace(/^type:/, "").replace(/\.ts$/, ".js");
    const up = "../".repeat(from.split("/").length - 1) || "./";
    return typeOnly
      ? `import type * as m${i} from "${up}${path}";\nexport type T${i} = typeof m${i};`
      : `import * as m${i} from "${up}${path}";\nexport const v${i} = m${i};`;
  });
  return `${lines.join("\n")}\nexport const here = ${JSON.stringify(from)};\n`;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mp-sideload-layers-"));
  for (const [file, imports] of Object.entries(tree)) {
    const path = join(dir, "src", file);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, source(file, imports));
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

/** `depcruise src` with the project's rule file, in the fixture tree. */
function depcruise(...args: string[]) {
  return spawnSync(
    join(root, "node_modules/.bin/depcruise"),
    ["src", "--config", join(root, ".dependency-cruiser.mjs"), ...args],
    { cwd: dir, encoding: "utf8" },
  );
}

it("fails as npm run deps runs it, naming the wrong import", () => {
  const run = depcruise();
  expect(run.status, run.stderr).not.toBe(0);
  expect(run.stdout).toContain("layer-inventory-pak: src/pak/read-pak.ts → src/cli/args.ts");
});

it("reports every import against the layers, and only those", () => {
  const run = depcruise("--output-type", "json");
  const { summary } = JSON.parse(run.stdout) as { summary: { violations: Violation[] } };
  const found = summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();
  expect(found).toEqual(
    [
      "layer-inventory-pak: src/pak/read-pak.ts → src/cli/args.ts",
      "layer-ssh: src/ssh/connect.ts → src/sideload/types.ts",
      "no-circular: src/inventory/proxy.ts → src/inventory/routes.ts",
      "in-a-layer: src/cli/main.ts → src/misc/collectors.ts",
    ].sort(),
  );
});
