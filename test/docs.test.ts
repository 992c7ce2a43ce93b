/**
 * The reference docs keep up with the code: every error code of src/errors.ts has a
 * troubleshooting entry, and every option a command's --help prints is in docs/options.md.
 * Codes and options added later are found the same way; the failure lists what is missing.
 */
import { access, readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { commandNames, main } from "../src/cli/main.js";
import { captureTerminal } from "./support/terminal.js";

const root = join(import.meta.dirname, "..");
const read = (path: string) => readFile(join(root, path), "utf8");

/** The codes of the `ErrorCode` union, read from the source so that new ones count at once. */
export function errorCodesOf(source: string): string[] {
  const union = /export type ErrorCode =([^;]*);/.exec(source)?.[1] ?? "";
  return [...union.matchAll(/"([A-Z][A-Z0-9_]*)"/g)].map((m) => m[1] ?? "");
}

/**
 * The options a --help text offers: those that start an indented line (`  --json  …`, with a
 * short alias after a comma), and those of the usage line. A `--refresh` inside a description is
 * text about another program, not an option.
 */
export function helpOptionsOf(help: string): string[] {
  const found = new Set<string>();
  for (const line of help.split("\n")) {
    if (line.startsWith("Usage:")) {
      for (const m of line.matchAll(/\[(--?[a-zA-Z][\w-]*)/g)) found.add(m[1] ?? "");
      continue;
    }
    const m = /^\s+(--?[a-zA-Z][\w-]*)(?:,\s*(--?[a-zA-Z][\w-]*))?/.exec(line);
    if (m?.[1]) found.add(m[1]);
    if (m?.[2]) found.add(m[2]);
  }
  return [...found];
}

/** The option as written in the docs: in backticks, not the prefix of a longer option. */
function documented(doc: string, option: string): boolean {
  return new RegExp(`\`${option.replace(/[-]/g, "\\-")}(?![\\w-])`).test(doc);
}

/** The anchors GitHub makes of a page's headings: lower case, punctuation dropped, spaces as "-". */
function anchorsOf(markdown: string): string[] {
  return [...markdown.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
    (m[1] ?? "")
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, "")
      .replace(/ /g, "-"),
  );
}

async function helpOf(command: string): Promise<string> {
  const t = captureTerminal();
  const status = await main([command, "--help"], t.terminal);
  expect(status, `${command} --help: ${t.stderr()}`).toBe(0);
  return t.stdout();
}

describe("docs/troubleshooting.md", () => {
  it("has an entry for every error code of src/errors.ts", async () => {
    const codes = errorCodesOf(await read("src/errors.ts"));
    expect(codes).toContain("SSH_CONFIG_INVALID");
    expect(codes.length).toBeGreaterThan(40);
    const doc = await read("docs/troubleshooting.md");
    const missing = codes.filter((code) => !doc.includes(`### \`${code}\``));
    expect(missing, "error codes without a '### `CODE`' entry in docs/troubleshooting.md").toEqual([]);
  });
});

describe("docs/options.md", () => {
  it("finds the options of a --help text, and not the words about other programs", () => {
    const help = `Usage: mp-sideload x <pak> [--json] [--default-registry HOST]
  --registry-credentials-helper PATH   PATH get IMAGE prints {}; --refresh after a refusal
  --yes, -y                   do not ask
  --registry-user … (as pull) credentials
SSH password: MP_SIDELOAD_SSH_PASSWORD`;
    expect(helpOptionsOf(help).sort()).toEqual(
      [
        "--default-registry",
        "--json",
        "--registry-credentials-helper",
        "--registry-user",
        "--yes",
        "-y",
      ].sort(),
    );
  });

  it("documents every option that every command's --help prints, under a heading per command", async () => {
    const doc = await read("docs/options.md");
    const missing: string[] = [];
    for (const command of commandNames) {
      if (!new RegExp(`^## \`${command}[ \`]`, "m").test(doc))
        missing.push(`${command}: no '## \`${command}' heading`);
      const options = helpOptionsOf(await helpOf(command));
      expect(options.length, `${command} --help lists no option`).toBeGreaterThan(2);
      for (const option of options) {
        if (!documented(doc, option)) missing.push(`${command} ${option}`);
      }
    }
    expect(missing, "options in --help but not in docs/options.md").toEqual([]);
  });
});

describe("links between the docs", () => {
  it("every relative link of README.md and docs/*.md names a file that exists", async () => {
    const pages = [
      "README.md",
      ...(await readdir(join(root, "docs"))).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`),
    ];
    const broken: string[] = [];
    for (const page of pages) {
      for (const m of (await read(page)).matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        const target = m[1] ?? "";
        if (/^[a-z]+:/.test(target)) continue;
        const file = join(root, dirname(page), target);
        const exists = await access(file).then(
          () => true,
          () => false,
        );
        if (!exists) broken.push(`${page} → ${target}`);
        else if (m[2] !== undefined && !anchorsOf(await readFile(file, "utf8")).includes(m[2].slice(1))) {
          broken.push(`${page} → ${target}${m[2]}`);
        }
      }
    }
    for (const page of pages) {
      const text = await read(page);
      for (const m of text.matchAll(/\]\(#([^)]+)\)/g)) {
        if (!anchorsOf(text).includes(m[1] ?? "")) broken.push(`${page} → #${m[1]}`);
      }
    }
    expect(pages.length).toBeGreaterThan(8);
    expect(broken).toEqual([]);
  });
});
