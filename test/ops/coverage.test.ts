import { describe, expect, it } from "vitest";
import { printable } from "../../src/errors.js";
import { coverageOf, renderCoverageLines } from "../../src/coverage/coverage.js";
import type { OpsGroup } from "../../src/ops/resolve.js";
import type { ProxyResult, ProxyStatus } from "../../src/sideload/types.js";

const refs = ["reg/a@sha256:1", "reg/b@sha256:2"];
const groups: OpsGroup[] = [
  { id: "e", name: "east-group", members: ["e1", "e2"], instances: ["lab-east"] },
  { id: "w", name: "west-group", members: ["w1"], instances: [] },
];

function row(name: string, reference: string, status: ProxyStatus): ProxyResult {
  return { name, host: name, port: 22, status, reference, durationMs: 1, steps: [] };
}
const both = (name: string, a: ProxyStatus, b: ProxyStatus = a) => [
  row(name, refs[0] ?? "", a),
  row(name, refs[1] ?? "", b),
];

describe("coverageOf", () => {
  it.each([
    [
      "every member holds both",
      [...both("e1", "present"), ...both("e2", "pulled")],
      "ready",
      ["e1", "e2"],
      [],
    ],
    [
      "one member lacks one image",
      [...both("e1", "present"), ...both("e2", "present", "missing")],
      "partial",
      ["e1"],
      ["e2"],
    ],
    [
      "a failed member counts as lacking",
      [...both("e1", "pulled"), ...both("e2", "failed")],
      "partial",
      ["e1"],
      ["e2"],
    ],
    ["no member holds them", [...both("e1", "missing"), ...both("e2", "missing")], "none", [], ["e1", "e2"]],
    ["a member not in the run", both("e1", "present"), "unknown", ["e1"], []],
  ] as [string, ProxyResult[], string, string[], string[]][])(
    "%s → %s",
    (_what, rows, state, holding, lacking) => {
      const coverage = coverageOf(groups.slice(0, 1), rows, refs);
      expect(coverage.groups[0]).toMatchObject({
        group: "east-group",
        state,
        holding,
        lacking,
        ready: state === "ready",
      });
      expect(coverage.ready).toBe(state === "ready");
      expect(coverage.partial).toEqual(state === "partial" ? ["east-group"] : []);
    },
  );

  it("names the half-covered group, is JSON-friendly, and renders one line per group", () => {
    const rows = [...both("e1", "present"), ...both("e2", "missing"), ...both("w1", "present")];
    const coverage = coverageOf(groups, rows, refs);
    expect(JSON.parse(JSON.stringify(coverage))).toEqual({
      groups: [
        {
          group: "east-group",
          members: ["e1", "e2"],
          holding: ["e1"],
          lacking: ["e2"],
          unchecked: [],
          state: "partial",
          ready: false,
        },
        {
          group: "west-group",
          members: ["w1"],
          holding: ["w1"],
          lacking: [],
          unchecked: [],
          state: "ready",
          ready: true,
        },
      ],
      ready: false,
      partial: ["east-group"],
    });
    expect(renderCoverageLines(coverage, printable)).toEqual([
      "east-group: 1 of 2 members hold every image — NOT READY: an instance moved to e2 would fail to start",
      "west-group: 1 of 1 member hold every image — ready",
    ]);
  });
});
