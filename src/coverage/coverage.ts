/**
 * Coverage, the pre-install verdict: per collector group involved, how many of its cloud-proxy
 * members hold every reference. An adapter instance may run on any member of its group (and
 * each Test Connection or collector move starts a new container there), so a group where some
 * but not all members hold the images is not ready: an instance moved to the others would fail.
 */
import type { Coverage, GroupCoverage, ProxyResult } from "../sideload/types.js";

export type { Coverage, GroupCoverage } from "../sideload/types.js";
import type { OpsGroup } from "../ops/resolve.js";

const holds = new Set(["present", "pulled"]);

/**
 * Coverage of `groups` from the rows of a run (one per proxy and reference). A member holds
 * the references when, for each of `references`, its row says present or pulled.
 */
export function coverageOf(groups: OpsGroup[], results: ProxyResult[], references: string[]): Coverage {
  const rowsOf = new Map<string, ProxyResult[]>();
  for (const row of results) rowsOf.set(row.name, [...(rowsOf.get(row.name) ?? []), row]);
  const verdicts = groups.map((g): GroupCoverage => {
    const holding: string[] = [];
    const lacking: string[] = [];
    const unchecked: string[] = [];
    for (const member of g.members) {
      const rows = rowsOf.get(member);
      if (rows === undefined || rows.length === 0) unchecked.push(member);
      else if (references.every((ref) => rows.some((r) => r.reference === ref && holds.has(r.status))))
        holding.push(member);
      else lacking.push(member);
    }
    const state =
      lacking.length === 0 && unchecked.length === 0
        ? "ready"
        : holding.length > 0 && lacking.length > 0
          ? "partial"
          : lacking.length > 0
            ? "none"
            : "unknown";
    return {
      group: g.name,
      members: g.members,
      holding,
      lacking,
      unchecked,
      state,
      ready: state === "ready",
    };
  });
  return {
    groups: verdicts,
    ready: verdicts.every((v) => v.ready),
    partial: verdicts.filter((v) => v.state === "partial").map((v) => v.group),
  };
}

/** One line per group for the human report: `east-group: 1 of 2 hold every image — NOT READY (…)`. */
export function renderCoverageLines(coverage: Coverage, escape: (text: string) => string): string[] {
  return coverage.groups.map((g) => {
    const count = `${g.holding.length} of ${g.members.length} member${g.members.length === 1 ? "" : "s"} hold every image`;
    const detail =
      g.state === "ready"
        ? "ready"
        : g.state === "partial"
          ? `NOT READY: an instance moved to ${g.lacking.map(escape).join(", ")} would fail to start`
          : g.state === "none"
            ? "none holds them yet"
            : `${g.unchecked.map(escape).join(", ")} not checked in this run`;
    return `${escape(g.group)}: ${count} — ${detail}`;
  });
}
