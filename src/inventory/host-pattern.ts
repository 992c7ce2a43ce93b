/**
 * Ansible's host patterns (ansible-core 2.14 InventoryManager), for `--limit`: `a:b` and
 * `a,b` union, `a:&b` intersection, `a:!b` exclusion, a leading `!`, `*` `?` `[seq]` globs,
 * `~regex`, `group[0]` / `group[1:3]` / `group[-1]` subscripts and `@file` (one pattern a
 * line). Ansible applies every plain pattern first, then the `&` ones, then the `!` ones, so an
 * excluded host is never selected wherever the exclusion is written. Proxies are always listed
 * in the inventory's order (`all`), as a play with `--limit` runs them.
 */
import { SideloadError, quote } from "../errors.js";
import { readTextFile } from "../files.js";
import { globToRegExp } from "../glob.js";
import { parseAddress } from "./ansible-syntax.js";
import type { Proxy } from "./proxy.js";

/** The names a pattern can match: hosts in inventory order, groups with their hosts. */
export interface HostIndex {
  /** Host names in the order they were first defined (Ansible's hosts dictionary). */
  hosts: string[];
  /** Each group's hosts in Ansible's order, groups in the order they were defined; has `all`. */
  groups: Map<string, string[]>;
}

function limitError(
  message: string,
  hint = "see the README for the --limit pattern language",
): SideloadError {
  return new SideloadError("LIMIT_INVALID", message, { hint });
}

/** Ansible's split_host_pattern: `,` separates; else `:` does, unless the whole is one address. */
export function splitHostPattern(pattern: string): string[] {
  let parts: string[];
  if (pattern.includes(",")) parts = pattern.split(",");
  else if (parseAddress(pattern) !== undefined) parts = [pattern];
  else parts = pattern.match(/(?:[^\s:[\]]|\[[^\]]*\])+/g) ?? [];
  return parts.map((p) => p.trim()).filter((p) => p !== "");
}

/**
 * The `--limit` options as one list of single patterns. Ansible keeps only the last `--limit`;
 * here each is split on its own and all of them apply together (union of the plain ones, every
 * `&` and `!` over the whole), so a second `--limit` can only add hosts, never un-exclude one.
 * `@file` is replaced by the file's lines.
 */
export async function readLimit(options: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const option of options) {
    const parts = splitHostPattern(option);
    if (parts.length === 0)
      throw limitError(`--limit ${quote(option)} names no hosts`, "e.g. --limit 'prod:!west'");
    for (const part of parts) {
      if (!part.startsWith("@")) {
        out.push(part);
        continue;
      }
      const text = await readTextFile(part.slice(1), {
        what: "--limit file",
        hint: "give @FILE a file of host names, one a line (e.g. a .retry file)",
        maxBytes: 8 * 1024 * 1024,
      });
      out.push(
        ...text
          .split("\n")
          .map((l) => l.trim())
          .filter((l) => l !== ""),
      );
    }
  }
  for (const p of out) compileAtom(p);
  return out;
}

interface Atom {
  kind: "plain" | "&" | "!";
  text: string;
  match: RegExp;
  glob: boolean;
  subscript?: { start: number; end: number | undefined } | undefined;
}

const subscripted = /^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$/s;

/** One pattern, checked: a regex that compiles, a subscript Ansible reads. */
function compileAtom(pattern: string): Atom {
  const kind = pattern.startsWith("&") ? "&" : pattern.startsWith("!") ? "!" : "plain";
  let text = kind === "plain" ? pattern : pattern.slice(1);
  if (text === "") throw limitError(`--limit: ${quote(pattern)} has nothing after ${quote(kind)}`);
  let subscript: Atom["subscript"];
  if (!text.startsWith("~")) {
    const m = subscripted.exec(text);
    if (m) {
      text = m[1] ?? "";
      subscript =
        m[2] !== undefined
          ? { start: Number(m[2]), end: undefined }
          : { start: Number(m[3]), end: m[5] === "" ? -1 : Number(m[5]) };
    }
  }
  let match: RegExp;
  if (text.startsWith("~")) match = pythonRegex(text.slice(1), pattern);
  else {
    try {
      match = globToRegExp(text, { classes: true });
    } catch {
      throw limitError(`--limit: ${quote(pattern)} is not a valid pattern`, "check the [...] classes");
    }
  }
  return { kind, text, match, glob: text.startsWith("~") || /[.?*[]/.test(text), subscript };
}

/** A Python `re` pattern as Ansible's `~regex` uses it: re.match, anchored at the start only. */
function pythonRegex(source: string, pattern: string): RegExp {
  if (/\(\?[aiLmsux]/.test(source)) {
    throw limitError(
      `--limit: ${quote(pattern)} uses Python inline flags`,
      "write the regex without (?i) and the like",
    );
  }
  const js = source
    .replace(/\(\?P</g, "(?<")
    .replace(/\(\?P=(\w+)\)/g, "\\k<$1>")
    .replace(/\\Z/g, "$")
    .replace(/\\A/g, "^");
  try {
    return new RegExp(`^(?:${js})`);
  } catch (error) {
    throw limitError(
      `--limit: ${quote(pattern)} is not a valid regular expression (${(error as Error).message})`,
    );
  }
}

/** The host names the patterns select, as Ansible's _evaluate_patterns gives them (a set). */
export function evaluatePatterns(
  index: HostIndex,
  patterns: string[],
  onUnmatched?: (pattern: string) => void,
): Set<string> {
  const atoms = patterns.filter((p) => p !== "").map(compileAtom);
  const ordered = [
    ...atoms.filter((a) => a.kind === "plain"),
    ...atoms.filter((a) => a.kind === "&"),
    ...atoms.filter((a) => a.kind === "!"),
  ];
  if (!ordered.some((a) => a.kind === "plain")) ordered.unshift(compileAtom("all"));
  const known = new Set(index.hosts);
  let hosts = new Set<string>();
  for (const atom of ordered) {
    const raw = atom.kind === "plain" ? atom.text : `${atom.kind}${atom.text}`;
    if (atom.kind === "plain" && atom.subscript === undefined && known.has(atom.text)) {
      hosts.add(atom.text);
      continue;
    }
    const that = matchOne(index, atom, raw);
    if (that.length === 0 && atom.text !== "all") onUnmatched?.(raw);
    if (atom.kind === "!") {
      const drop = new Set(that);
      hosts = new Set([...hosts].filter((h) => !drop.has(h)));
    } else if (atom.kind === "&") {
      const keep = new Set(that);
      hosts = new Set([...hosts].filter((h) => keep.has(h)));
    } else for (const h of that) hosts.add(h);
  }
  return hosts;
}

/** _enumerate_matches then the subscript: matching groups' hosts, then matching hosts. */
function matchOne(index: HostIndex, atom: Atom, raw: string): string[] {
  const results: string[] = [];
  let groupMatched = false;
  for (const [name, members] of index.groups) {
    if (atom.match.test(name)) {
      groupMatched = true;
      results.push(...members);
    }
  }
  if (!groupMatched || atom.glob) for (const h of index.hosts) if (atom.match.test(h)) results.push(h);
  if (atom.subscript === undefined || results.length === 0) return results;
  const { start, end } = atom.subscript;
  if (end) {
    const last = end === -1 ? results.length - 1 : end;
    return results.slice(start, last + 1);
  }
  const i = start < 0 ? results.length + start : start;
  const host = results[i];
  if (host === undefined || i < 0) {
    throw limitError(
      `--limit: no host at ${quote(`${raw}[${start}]`)}: it matches ${results.length} host(s), counted from 0`,
    );
  }
  return [host];
}

/**
 * The proxies `--limit` selects, in inventory order. `index` describes the inventory's groups
 * (undefined: each proxy's `groups` make them); proxies it does not know (from --proxy) are
 * ungrouped hosts after the inventory's.
 */
export function selectProxies(
  proxies: Proxy[],
  patterns: string[],
  index?: HostIndex,
  onUnmatched?: (pattern: string) => void,
): Proxy[] {
  if (patterns.length === 0) return proxies;
  const full = completeIndex(proxies, index);
  const chosen = evaluatePatterns(full, patterns, onUnmatched);
  return proxies.filter((p) => chosen.has(p.name));
}

function completeIndex(proxies: Proxy[], index: HostIndex | undefined): HostIndex {
  if (index === undefined) {
    const groups = new Map<string, string[]>([
      ["all", []],
      ["ungrouped", []],
    ]);
    for (const p of proxies) {
      groups.get("all")?.push(p.name);
      if (p.groups.length === 0) groups.get("ungrouped")?.push(p.name);
      for (const g of p.groups) {
        const members = groups.get(g);
        if (members) members.push(p.name);
        else groups.set(g, [p.name]);
      }
    }
    return { hosts: proxies.map((p) => p.name), groups };
  }
  const known = new Set(index.hosts);
  const extra = proxies.map((p) => p.name).filter((n) => !known.has(n));
  if (extra.length === 0) return index;
  const groups = new Map(index.groups);
  groups.set("all", [...(groups.get("all") ?? []), ...extra]);
  groups.set("ungrouped", [...(groups.get("ungrouped") ?? []), ...extra]);
  return { hosts: [...index.hosts, ...extra], groups };
}
