/**
 * Shell-style wildcard patterns as RegExps, for the places that match names against them:
 * Ansible host patterns (Python's fnmatch: `*`, `?`, `[seq]`, `[!seq]`), OpenSSH's Host and
 * known_hosts patterns and Include globs (`*` and `?` only).
 */

export interface GlobOptions {
  /** fnmatch's `[seq]` and `[!seq]` classes; off, `[` and `]` are plain characters (OpenSSH). */
  classes?: boolean;
  /** Case-insensitive (OpenSSH host names); fnmatch.translate is case-sensitive. */
  ignoreCase?: boolean;
}

const special = /[.+^${}()|[\]\\/-]/g;

/** A RegExp that matches the whole of a name against `pattern`. */
export function globToRegExp(pattern: string, options: GlobOptions = {}): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === "*") source += "[\\s\\S]*";
    else if (c === "?") source += "[\\s\\S]";
    else if (c === "[" && options.classes) {
      const parsed = charClass(pattern, i);
      if (parsed === undefined) source += "\\[";
      else {
        source += parsed.source;
        i = parsed.end;
      }
    } else source += c.replace(special, "\\$&");
  }
  return new RegExp(`^(?:${source})$`, options.ignoreCase ? "i" : "");
}

/**
 * fnmatch's bracket expression starting at `start`: `[!` negates, a `]` right after the
 * opening (or after `!`) is a member, `a-z` is a range; with no closing `]` the `[` is literal.
 */
function charClass(pattern: string, start: number): { source: string; end: number } | undefined {
  let j = start + 1;
  if (pattern[j] === "!") j++;
  if (pattern[j] === "]") j++;
  while (j < pattern.length && pattern[j] !== "]") j++;
  if (j >= pattern.length) return undefined;
  let body = pattern.slice(start + 1, j);
  let negate = false;
  if (body.startsWith("!")) {
    negate = true;
    body = body.slice(1);
  }
  // Ranges stay ranges; everything else inside the class is escaped for JS.
  const escaped = body.replace(/[\\\]^[]/g, "\\$&");
  return { source: negate ? `[^${escaped}]` : `[${escaped}]`, end: j };
}
