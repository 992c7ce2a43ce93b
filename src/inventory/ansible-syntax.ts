/**
 * The small languages inside an Ansible inventory, as ansible-core 2.14 reads them: a host
 * word with an optional port (`parse_address`), host ranges (`cp[01:10]`, `db-[a:f]`,
 * `[1:9:2]`), an INI host line's words (Python's `shlex` with comments) and an INI value
 * (`ast.literal_eval`, else the text), and Ansible's `boolean()`.
 */
import { SideloadError, quote } from "../errors.js";

const numericRange = String.raw`\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]`;
const hexRange = String.raw`\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]`;
const alnumRange = String.raw`\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]`;
const i4 = String.raw`(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|${numericRange})`;
const i6 = String.raw`(?:[0-9a-f]{1,4}|${hexRange})`;
const label = String.raw`(?:[\p{L}\p{N}_]|${alnumRange})(?:[\p{L}\p{N}_-]|${alnumRange})*(?<![_-])`;

const addressPatterns = {
  bracketedHostPort: /^\[(.+)\]:([0-9]+)$/,
  hostPort: /^((?:[^:[\]]|\[[^\]]*\])*):([0-9]+)$/,
  ipv4: new RegExp(String.raw`^(?:${i4}\.){3}${i4}$`, "i"),
  ipv6: new RegExp(
    "^(?:" +
      [
        `(?:${i6}:){7}${i6}`,
        `(?:${i6}:){1,6}:`,
        `(?:${i6}:)(?::${i6}){1,6}`,
        `(?:${i6}:){2}(?::${i6}){1,5}`,
        `(?:${i6}:){3}(?::${i6}){1,4}`,
        `(?:${i6}:){4}(?::${i6}){1,3}`,
        `(?:${i6}:){5}(?::${i6}){1,2}`,
        `(?:${i6}:){6}(?::${i6})`,
        `:(?::${i6}){1,6}`,
        `${i6}?::`,
        String.raw`(?:0:){6}(?:${i6}\.){3}${i6}`,
        String.raw`::(?:ffff:)?(?:${i6}\.){3}${i6}`,
        String.raw`(?:0:){5}ffff:(?:${i6}\.){3}${i6}`,
      ].join("|") +
      ")$",
    "i",
  ),
  hostname: new RegExp(String.raw`^${label}(?:\.${label})*$`, "iu"),
};

/**
 * Ansible's `parse_address(text, allow_ranges=True)`: the host (ranges kept) and the port of
 * `host:port` / `[host]:port`, or undefined when the text is not a host identifier at all.
 */
export function parseAddress(text: string): { host: string; port?: number } | undefined {
  let address = text;
  let port: number | undefined;
  // As Ansible does, both forms are tried in turn on what is left.
  for (const re of [addressPatterns.bracketedHostPort, addressPatterns.hostPort]) {
    const m = re.exec(address);
    if (m) {
      address = m[1] ?? "";
      port = Number(m[2]);
    }
  }
  const known = [addressPatterns.ipv4, addressPatterns.ipv6, addressPatterns.hostname].some((re) =>
    re.test(address),
  );
  if (!known) return undefined;
  return port === undefined ? { host: address } : { host: address, port };
}

/** Host names from one host word, ranges expanded; the port applies to all of them. */
export function expandHostPattern(
  word: string,
  where: string,
  budget: number,
  onTooMany: () => never,
): { names: string[]; port?: number | undefined } {
  const parsed = parseAddress(word);
  const pattern = parsed?.host ?? word;
  const names = pattern.includes("[") ? expandHostRange(pattern, where, budget, onTooMany) : [pattern];
  return { names, port: parsed?.port };
}

const asciiLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

function rangeError(where: string, word: string, why: string): SideloadError {
  return new SideloadError("INVENTORY_INVALID", `${where}: host range ${quote(word)}: ${why}`, {
    hint: "e.g. cp[01:10], db-[a:f] or cp[1:9:2] (begin:end[:step])",
  });
}

/** Python's int() of a range bound: optional sign, digits with single underscores. */
function pythonInt(text: string): number | undefined {
  const t = text.trim();
  return /^[+-]?\d+(?:_\d+)*$/.test(t) ? Number(t.replace(/_/g, "")) : undefined;
}

/**
 * Ansible's expand_hostname_range: the first `[...]` is expanded and the rest of each result
 * again, so `db[01:10:3]node-[a:b]` gives db01node-a, db01node-b, db04node-a, ...
 */
export function expandHostRange(
  line: string,
  where: string,
  budget: number,
  onTooMany: () => never,
): string[] {
  const open = line.indexOf("[");
  const close = line.indexOf("]");
  // Ansible replaces the first [ and the first ] and splits on them: anything else is malformed.
  const parts = `${line.slice(0, open)}|${line.slice(open + 1)}`.replace("]", "|").split("|");
  if (close < 0 || parts.length !== 3) throw rangeError(where, line, "not one [begin:end] per bracket pair");
  const [head = "", range = "", tail = ""] = parts;
  const bounds = range.split(":");
  if (bounds.length !== 2 && bounds.length !== 3) {
    throw rangeError(where, line, "must be begin:end or begin:end:step");
  }
  const beg = bounds[0] || "0";
  const end = bounds[1] ?? "";
  const step = pythonInt(bounds[2] ?? "1");
  if (end === "") throw rangeError(where, line, "must specify an end");
  if (step === undefined || step === 0)
    throw rangeError(where, line, "the step must be a whole number, not 0");
  let fill = (x: string | number) => String(x);
  if (beg.startsWith("0") && beg.length > 1) {
    if (beg.length !== end.length) throw rangeError(where, line, "begin and end must be of equal length");
    fill = (x) => String(x).padStart(beg.length, "0");
  }
  const seq: (string | number)[] = [];
  const ib = asciiLetters.indexOf(beg);
  const ie = asciiLetters.indexOf(end);
  if (beg.length === 1 && end.length === 1 && ib >= 0 && ie >= 0) {
    if (ib > ie) throw rangeError(where, line, "begin must not be after end");
    if (step < 0) return [];
    for (let i = ib; i <= ie; i += step) seq.push(asciiLetters.charAt(i));
  } else {
    const b = pythonInt(beg);
    const e = pythonInt(end);
    if (b === undefined || e === undefined)
      throw rangeError(where, line, "begin and end must be numbers or letters");
    // Python's range(b, e + 1, step).
    const stop = e + 1;
    for (let i = b; step > 0 ? i < stop : i > stop; i += step) {
      seq.push(i);
      if (seq.length > budget) onTooMany();
    }
  }
  const out: string[] = [];
  for (const item of seq) {
    const name = `${head}${fill(item)}${tail}`;
    if (name.includes("[")) {
      for (const n of expandHostRange(name, where, budget - out.length, onTooMany)) out.push(n);
    } else out.push(name);
    if (out.length > budget) onTooMany();
  }
  return out;
}

/**
 * Python's `shlex.split(line, comments=True)` (POSIX mode): quotes group, a backslash escapes
 * outside single quotes, `#` outside quotes ends the line.
 */
export function shlexSplit(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quoteChar: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line.charAt(i);
    if (quoteChar !== undefined) {
      if (c === quoteChar) quoteChar = undefined;
      else if (c === "\\" && quoteChar === '"') {
        const next = line.charAt(i + 1);
        if (i + 1 >= line.length) throw new Error("No closing quotation");
        word += next === '"' || next === "\\" ? next : `\\${next}`;
        i++;
      } else word += c;
    } else if (/[ \t\r\n]/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else if (c === "#") {
      break;
    } else if (c === "'" || c === '"') {
      quoteChar = c;
      inWord = true;
    } else if (c === "\\") {
      if (i + 1 >= line.length) throw new Error("No escaped character");
      word += line.charAt(++i);
      inWord = true;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quoteChar !== undefined) throw new Error("No closing quotation");
  if (inWord) words.push(word);
  return words;
}

/** A Python container literal (list, dict, tuple) from an INI value: kept, but not a string. */
export interface PythonLiteral {
  python: string;
}

const pythonNumber =
  /^[+-]?(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|(?:0(?:_?0)*|[1-9](?:_?\d)*))$/;
const pythonFloat =
  /^[+-]?(?:(?:\d(?:_?\d)*)?\.\d(?:_?\d)*(?:[eE][+-]?\d(?:_?\d)*)?|\d(?:_?\d)*\.(?:[eE][+-]?\d(?:_?\d)*)?|\d(?:_?\d)*[eE][+-]?\d(?:_?\d)*)$/;

/**
 * An INI value as Ansible reads it: `ast.literal_eval` when the text is a Python literal (a
 * number, a quoted string, True/False/None, a container; a trailing `# comment` is Python's
 * too), else the text itself.
 */
export function iniValue(text: string): unknown {
  const literal = literalOf(text.trim()) ?? literalOf(text.replace(/\s+#.*$/, "").trim());
  return literal === undefined ? text : literal.value;
}

function literalOf(t: string): { value: unknown } | undefined {
  if (t === "") return undefined;
  if (t === "True") return { value: true };
  if (t === "False") return { value: false };
  if (t === "None") return { value: null };
  if (pythonNumber.test(t)) {
    const sign = t.startsWith("-") ? -1 : 1;
    const body = t.replace(/^[+-]/, "").replace(/_/g, "");
    const n = /^0[xob]/i.test(body) ? Number(body.slice(0, 2).toLowerCase() + body.slice(2)) : Number(body);
    return { value: sign * n };
  }
  if (/\d/.test(t) && pythonFloat.test(t)) return { value: Number(t.replace(/_/g, "")) };
  const quoted = /^(?:[rRbBuU]{0,2})(['"])((?:\\.|(?!\1)[^\\])*)\1$/s.exec(t);
  if (quoted && !/^[rRbBuU]*(['"])\1\1/.test(t)) {
    const raw = /^[a-zA-Z]*[rR]/.test(t);
    const body = quoted[2] ?? "";
    return { value: raw ? body : unescapePython(body) };
  }
  if (/^[[{(]/.test(t) && /[\]})]$/.test(t)) return { value: { python: t } satisfies PythonLiteral };
  return undefined;
}

function unescapePython(body: string): string {
  const simple: Record<string, string> = {
    n: "\n",
    t: "\t",
    r: "\r",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "0": "\0",
  };
  return body.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)/gs, (whole, e: string) => {
    if (e.length > 1) return String.fromCharCode(parseInt(e.slice(1), 16));
    return simple[e] ?? whole;
  });
}

const truthy = new Set(["y", "yes", "on", "1", "true", "t"]);
const falsy = new Set(["n", "no", "off", "0", "false", "f"]);

/** Ansible's `boolean()`: true, yes, on, 1 (and false, no, off, 0), any case; else undefined. */
export function ansibleBoolean(value: unknown): boolean | undefined {
  if (typeof value === "boolean") return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value === "string") {
    const v = value.trim().toLowerCase();
    if (truthy.has(v)) return true;
    if (falsy.has(v)) return false;
  }
  return undefined;
}
