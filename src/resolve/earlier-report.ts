/**
 * Reading an earlier `--report` for `--only-failed`. A report is input like an inventory: every
 * row is checked as strictly as an inventory line, and a report written for other image
 * references is refused, since "nothing failed" about another pak says nothing about this one.
 */
import { SideloadError, quote } from "../errors.js";
import { readTextFile } from "../files.js";
import { checkHost, checkPort } from "../inventory/proxy.js";

/** A proxy that an earlier run did not leave ok, and the references it lacks. */
export interface UnfinishedProxy {
  name: string;
  host: string;
  port: number;
  /** The references whose row was `failed`, `skipped` or `missing`, in report order. */
  references: string[];
}

const statuses = ["pulled", "present", "missing", "failed", "skipped"];
const unfinished = new Set(["failed", "skipped", "missing"]);
/** A report row per proxy and reference; 10,000 proxies with a few references each. */
const maxReportBytes = 64 * 1024 * 1024;
const hint = "give the file an earlier run of this pak wrote with --report";

/** Read and check a report file; see `parseEarlierReport`. */
export async function readEarlierReport(file: string, references: string[]): Promise<UnfinishedProxy[]> {
  const text = await readTextFile(file, {
    what: "report",
    hint,
    maxBytes: maxReportBytes,
    tooLarge: (size) =>
      new SideloadError("REPORT_INVALID", `${file}: ${size} bytes is too large for a report`, { hint }),
  });
  return parseEarlierReport(text, file, references);
}

/**
 * The proxies an earlier report shows as `failed`, `skipped` or `missing`, once each, with the
 * references of those rows: `--only-failed` retries exactly those pairs.
 * @param references the image references of this run: the report must be for exactly these
 */
export function parseEarlierReport(text: string, file: string, references: string[]): UnfinishedProxy[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new SideloadError("REPORT_INVALID", `${file}: not JSON (${(error as Error).message})`, { hint });
  }
  if (!isRecord(doc))
    throw new SideloadError("REPORT_INVALID", `${file}: not an mp-sideload report`, { hint });
  const reported = doc.references;
  if (!Array.isArray(reported) || reported.length === 0 || !reported.every((r) => typeof r === "string")) {
    throw new SideloadError("REPORT_INVALID", `${file}: has no "references" list`, { hint });
  }
  const wanted = new Set(references);
  const same = reported.length === wanted.size && reported.every((r) => wanted.has(r));
  if (!same) {
    throw new SideloadError(
      "REPORT_MISMATCH",
      `${file} is a report for ${reported.map((r) => quote(r, 120)).join(", ")}, not for ${references.map((r) => quote(r, 120)).join(", ")}`,
      { hint: "give the report of a run with this pak, or run without --only-failed" },
    );
  }
  const rows = doc.proxies;
  if (!Array.isArray(rows))
    throw new SideloadError("REPORT_INVALID", `${file}: has no "proxies" list`, { hint });
  const found = new Map<string, UnfinishedProxy>();
  rows.forEach((row: unknown, index) => {
    const where = `${file}: proxies[${index}]`;
    if (!isRecord(row)) throw new SideloadError("REPORT_INVALID", `${where} is not an object`, { hint });
    const { name, host, port, status, reference } = row;
    if (typeof name !== "string" || name === "" || name.length > 255) {
      throw new SideloadError("REPORT_INVALID", `${where}: "name" is not a proxy name`, { hint });
    }
    if (typeof host !== "string")
      throw new SideloadError("REPORT_INVALID", `${where}: "host" is not a string`, { hint });
    if (typeof status !== "string" || !statuses.includes(status)) {
      throw new SideloadError(
        "REPORT_INVALID",
        `${where}: "status" ${quote(String(status))} is not one of ${statuses.join(", ")}`,
        { hint },
      );
    }
    if (typeof reference !== "string" || !wanted.has(reference)) {
      throw new SideloadError(
        "REPORT_MISMATCH",
        `${where}: reference ${quote(String(reference), 120)} is not one of this pak's`,
        {
          hint: "give the report of a run with this pak",
        },
      );
    }
    const proxy = found.get(name) ?? {
      name,
      host: asReportError(() => checkHost(host, where)),
      port: asReportError(() => checkPort(port, where)),
      references: [],
    };
    if (!unfinished.has(status)) return;
    found.set(name, proxy);
    if (!proxy.references.includes(reference)) proxy.references.push(reference);
  });
  return [...found.values()];
}

/** An inventory-style check failing inside a report is a report error. */
function asReportError<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof SideloadError) throw new SideloadError("REPORT_INVALID", error.message, { hint });
    throw error;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
