/**
 * The relay's line in a proxy's `/etc/hosts`, as pure text transformations: adding it (and
 * setting aside an entry the file already has for the host, which would otherwise be tried
 * first), and removing it again to give back the file byte for byte. Every line the relay writes
 * carries the marker with the run's id and its keeper (the proxy-side process whose life is the
 * run's connection), so the next run can tell a killed run's line from a live one.
 *
 * The relay's lines go at the end: adding is an append and removing, in the common case, a
 * truncation back to the original length, so even a bind-mounted /etc/hosts (where a rename over
 * it fails) never shows a reader half a file.
 */

/** The mapping line of one run: `127.0.0.1 HOST # mp-sideload relay RUN keeper=PID`. */
export interface RelayMark {
  runId: string;
  host: string;
  /** The pid of the run's keeper on the proxy. */
  keeper: number;
}

const marker = "# mp-sideload relay";
const asideTag = "#mp-sideload-aside";

/** A run id: letters, digits and `-` (made by the run; a file's text is never trusted as one). */
const runIdPattern = /^[A-Za-z0-9-]{1,64}$/;
/** A host name as a registry reference allows it (no port). */
const hostPattern = /^[A-Za-z0-9.-]{1,253}$/;

const mappingLine = /^127\.0\.0\.1 (\S+) # mp-sideload relay ([A-Za-z0-9-]+) keeper=(\d+)( nl)?$/;
const asideLine = /^#mp-sideload-aside ([A-Za-z0-9-]+) (\d+) (.*)$/;

/** The marked lines of `text`: the relay lines of every run, live or not. */
export function relayMarks(text: string): RelayMark[] {
  return lines(text).flatMap((line) => {
    const m = mappingLine.exec(line);
    return m ? [{ host: m[1] ?? "", runId: m[2] ?? "", keeper: Number(m[3]) }] : [];
  });
}

/** Lines of `text` without their ends; a final newline gives no empty last line. */
function lines(text: string): string[] {
  if (text === "") return [];
  const all = text.split("\n");
  if (all.at(-1) === "") all.pop();
  return all;
}

/** Does `line` (an ordinary hosts line, not a comment) name `host`? */
function names(line: string, host: string): boolean {
  const fields = line.replace(/#.*$/, "").trim().split(/\s+/);
  return fields.length > 1 && fields.slice(1).some((name) => name.toLowerCase() === host.toLowerCase());
}

/**
 * `text` with `mark`'s line added at the end. Lines that already name the host (not the relay's)
 * are set aside: moved under the marker, with their line number, to be put back by
 * `removeRelayLines`. A file without a final newline gets one first, marked ` nl` to be undone.
 */
export function addRelayLine(text: string, mark: RelayMark): { text: string; setAside: string[] } {
  if (!runIdPattern.test(mark.runId)) throw new Error(`not a run id: ${mark.runId}`);
  if (!hostPattern.test(mark.host)) throw new Error(`not a host name: ${mark.host}`);
  if (!Number.isSafeInteger(mark.keeper) || mark.keeper <= 0) throw new Error(`not a pid: ${mark.keeper}`);
  const noFinalNewline = text !== "" && !text.endsWith("\n");
  const kept: string[] = [];
  const aside: string[] = [];
  lines(text).forEach((line, index) => {
    if (!mappingLine.test(line) && !asideLine.test(line) && names(line, mark.host)) {
      aside.push(`${asideTag} ${mark.runId} ${index} ${line}`);
    } else kept.push(line);
  });
  const mapping = `127.0.0.1 ${mark.host} ${marker} ${mark.runId} keeper=${mark.keeper}${noFinalNewline ? " nl" : ""}`;
  if (aside.length === 0) return { text: `${text}${noFinalNewline ? "\n" : ""}${mapping}\n`, setAside: [] };
  const body = kept.join("\n");
  return {
    text: `${body}${body === "" ? "" : "\n"}${[...aside, mapping].join("\n")}\n`,
    setAside: aside.map((line) => line.replace(/^#mp-sideload-aside \S+ \d+ /, "")),
  };
}

/**
 * `text` without the relay lines of the runs `which` picks, the lines they set aside put back
 * where they were, and a newline they added taken away: the file as it was before them (other
 * runs' lines stay). Returns `text` itself when no line is picked.
 */
export function removeRelayLines(text: string, which: (runId: string) => boolean): string {
  const all = lines(text);
  const kept: string[] = [];
  const restore: { index: number; line: string }[] = [];
  let addedNewline = false;
  for (const line of all) {
    const mapping = mappingLine.exec(line);
    const aside = asideLine.exec(line);
    if (mapping && which(mapping[2] ?? "")) addedNewline ||= mapping[4] !== undefined;
    else if (aside && which(aside[1] ?? "")) restore.push({ index: Number(aside[2]), line: aside[3] ?? "" });
    else kept.push(line);
  }
  if (kept.length === all.length) return text;
  for (const { index, line } of restore.sort((a, b) => a.index - b.index)) {
    kept.splice(Math.min(index, kept.length), 0, line);
  }
  const other = kept.findIndex((line) => mappingLine.test(line));
  // Another run's line stays: the newline added before the first one is its to take away now.
  if (addedNewline && other >= 0) {
    const line = kept[other] ?? "";
    if (!line.endsWith(" nl")) kept[other] = `${line} nl`;
  }
  const result = kept.length === 0 ? "" : `${kept.join("\n")}\n`;
  return addedNewline && other < 0 ? result.replace(/\n$/, "") : result;
}
