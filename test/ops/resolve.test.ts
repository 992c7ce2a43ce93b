import { describe, expect, it } from "vitest";
import { SideloadError } from "../../src/errors.js";
import type { Proxy } from "../../src/inventory/proxy.js";
import {
  parseAdapterInstances,
  parseCollectorGroups,
  parseCollectors,
  type OpsCollector,
} from "../../src/ops/answers.js";
import {
  isCloudProxy,
  mergeInventoryDetails,
  opsProxiesToTargets,
  selectOpsTargets,
  type OpsSelection,
  type OpsView,
} from "../../src/ops/resolve.js";

const east = "g-east";
const west = "g-west";

/** The lab's deployment, as VCF Operations 9 answers it. */
function vcf9(): OpsView {
  return {
    collectors: parseCollectors({
      collector: [
        {
          id: "1",
          name: "ops-node",
          hostName: "ops-node.example",
          state: "UP",
          type: "INTERNAL",
          local: true,
        },
        {
          id: "2",
          name: "cp-east-1",
          hostName: "cp-east-1.example",
          state: "UP",
          type: "CLOUD_PROXY",
          local: false,
        },
        {
          id: "3",
          name: "cp-east-2",
          hostName: "10.0.0.3",
          state: "DOWN",
          type: "UNIFIED_CLOUD_PROXY",
          local: false,
        },
        {
          id: "4",
          name: "cp-west-1",
          hostName: "cp-west-1.example",
          state: "UP",
          type: "CLOUD_PROXY",
          local: false,
        },
        {
          id: "5",
          name: "cp-lone",
          hostName: "cp-lone.example",
          state: "UP",
          type: "CLOUD_PROXY",
          local: false,
        },
      ],
    }),
    groups: parseCollectorGroups({
      collectorGroups: [
        { id: east, name: "east-group", collectorId: [2, 3, 1] },
        { id: west, name: "west-group", collectorId: [4] },
      ],
    }),
    instances: parseAdapterInstances({
      adapterInstancesInfoDto: [
        {
          id: "i1",
          resourceKey: { name: "lab-east", adapterKindKey: "LabAdapter" },
          collectorId: 2,
          collectorGroupId: east,
        },
        { id: "i2", resourceKey: { name: "lab-node", adapterKindKey: "LabAdapter" }, collectorId: 1 },
        {
          id: "i3",
          resourceKey: { name: "second-west", adapterKindKey: "SecondAdapter" },
          collectorGroupId: west,
        },
        { id: "i4", resourceKey: { name: "third-lone", adapterKindKey: "ThirdAdapter" }, collectorId: "5" },
      ],
    }),
  };
}

/** The same deployment as Aria Operations 8 answers it: no `type`, members as objects. */
function aria8(): OpsView {
  const view = vcf9();
  return {
    ...view,
    collectors: parseCollectors({
      collector: view.collectors.map(({ type: _type, ...c }) => c),
    }),
    groups: parseCollectorGroups({
      collectorGroups: view.groups.map((g) => ({
        id: g.id,
        name: g.name,
        collectorId: g.memberIds.map((id) => ({ id: Number(id), name: `c${id}` })),
      })),
    }),
  };
}

const names = (view: OpsView, selection: OpsSelection) =>
  selectOpsTargets(view, selection).proxies.map((p) => p.name);

describe("selectOpsTargets", () => {
  it.each([
    [
      "LabAdapter: the east group's cloud proxies, not the analytics node",
      { kinds: ["LabAdapter"] },
      ["cp-east-1", "cp-east-2"],
    ],
    ["SecondAdapter: the west group", { kinds: ["SecondAdapter"] }, ["cp-west-1"]],
    ["an instance outside a group: that proxy alone", { kinds: ["ThirdAdapter"] }, ["cp-lone"]],
    [
      "two kinds: both groups",
      { kinds: ["LabAdapter", "SecondAdapter"] },
      ["cp-east-1", "cp-east-2", "cp-west-1"],
    ],
    ["--collector-group", { kinds: ["NewAdapter"], collectorGroups: ["west-group"] }, ["cp-west-1"]],
    [
      "--collector-group, case folded",
      { kinds: [], collectorGroups: ["EAST-GROUP"] },
      ["cp-east-1", "cp-east-2"],
    ],
    [
      "--ops-all: every cloud proxy",
      { kinds: ["NewAdapter"], all: true },
      ["cp-east-1", "cp-east-2", "cp-west-1", "cp-lone"],
    ],
  ] as [string, OpsSelection, string[]][])("%s", (_what, selection, expected) => {
    expect(names(vcf9(), selection)).toEqual(expected);
    // The older release's shapes give the same targets.
    expect(names(aria8(), selection)).toEqual(expected);
  });

  it("says why, which groups, and that a DOWN proxy is still a target", () => {
    const { proxies, groups, notes } = selectOpsTargets(vcf9(), { kinds: ["LabAdapter"] });
    expect(proxies[1]).toEqual({
      name: "cp-east-2",
      host: "10.0.0.3",
      collectorId: "3",
      type: "UNIFIED_CLOUD_PROXY",
      state: "DOWN",
      groups: ["east-group"],
      reason: 'east-group holds LabAdapter instance "lab-east"',
      instances: ["lab-east"],
    });
    expect(groups).toEqual([
      { id: east, name: "east-group", members: ["cp-east-1", "cp-east-2"], instances: ["lab-east"] },
    ]);
    expect(notes).toContain("cp-east-2 is DOWN in Ops: still a target");
    expect(notes.some((n) => n.includes("lab-node") && n.includes("not a cloud proxy"))).toBe(true);
  });

  it.each([
    [
      "a kind with no instance",
      { kinds: ["LabAdapter", "NewAdapter"] },
      "OPS_NO_INSTANCES",
      /--collector-group NAME.*--ops-all/,
    ],
    [
      "an unknown group",
      { kinds: [], collectorGroups: ["north"] },
      "OPS_GROUP_UNKNOWN",
      /"east-group", "west-group"/,
    ],
  ] as [string, OpsSelection, string, RegExp][])("%s → %s", (_what, selection, code, hint) => {
    let error: unknown;
    try {
      selectOpsTargets(vcf9(), selection);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SideloadError);
    expect((error as SideloadError).code).toBe(code);
    expect((error as SideloadError).exitStatus).toBe(2);
    expect((error as SideloadError).hint).toMatch(hint);
  });

  it("refuses a target cloud proxy without a hostName", () => {
    const view = vcf9();
    view.collectors = view.collectors.map((c) =>
      c.name === "cp-east-1" ? { ...c, hostName: undefined } : c,
    );
    expect(() => selectOpsTargets(view, { kinds: ["LabAdapter"] })).toThrow(/cp-east-1.*without a hostName/);
  });
});

describe("isCloudProxy", () => {
  it.each([
    [{ type: "CLOUD_PROXY", local: false }, true],
    [{ type: "UNIFIED_CLOUD_PROXY", local: false }, true],
    [{ type: "INTERNAL", local: true }, false],
    [{ type: "REMOTE", local: false }, false],
    [{ type: "OTHER", local: false }, false],
    [{ local: true }, false],
    [{ local: false }, true],
  ] as [Partial<OpsCollector>, boolean][])("%o → %s", (c, expected) => {
    expect(isCloudProxy({ id: "1", name: "c", ...c } as OpsCollector)).toBe(expected);
  });
});

describe("the answers' shapes", () => {
  it("reads members as numbers, strings, objects, and the cloud API's collectorIds", () => {
    const groups = parseCollectorGroups({
      collectorGroups: [
        { id: "a", name: "A", collectorId: [1, "2"] },
        { id: "b", name: "B", collectorIds: [3] },
        { id: "c", name: "C", collectorId: [{ id: 4 }, { collectorId: "5" }] },
        { id: "d", name: "D" },
      ],
    });
    expect(groups.map((g) => g.memberIds)).toEqual([["1", "2"], ["3"], ["4", "5"], []]);
  });

  it.each([
    [() => parseCollectors({ collector: {} }), /collector is not a list/],
    [() => parseCollectors([]), /the answer is not an object/],
    [
      () => parseCollectors({ collector: [{ id: "1 2", name: "x", local: false }] }),
      /collector\[0\]\.id "1 2" is not an id/,
    ],
    [() => parseCollectors({ collector: [{ id: "1", name: "", local: false }] }), /collector\[0\]\.name/],
    [() => parseCollectors({ collector: [{ id: "1", name: "x", local: "no" }] }), /collector\[0\]\.local/],
    [
      () => parseCollectors({ collector: [{ id: "1", name: "x", state: "up; rm", local: false }] }),
      /collector\[0\]\.state/,
    ],
    [
      () => parseCollectors({ collector: [{ id: "1", name: "x", hostName: "a b", local: false }] }),
      /hostName "a b" is not a host name/,
    ],
    [
      () => parseCollectorGroups({ collectorGroups: [{ id: "g", name: "G", collectorId: [-1] }] }),
      /collectorId\[0\]/,
    ],
    [() => parseAdapterInstances({ adapterInstancesInfoDto: [{ id: "i" }] }), /resourceKey is not an object/],
  ])("refuses %#", (parse, message) => {
    expect(parse).toThrow(message);
    try {
      parse();
    } catch (error) {
      expect((error as SideloadError).code).toBe("OPS_INVALID");
    }
  });
});

describe("Ops proxies as targets", () => {
  const { proxies } = selectOpsTargets(vcf9(), { kinds: ["LabAdapter"] });

  it("SSH to the hostName, port and user open to the ssh config", () => {
    expect(opsProxiesToTargets(proxies, "root", false)[0]).toEqual({
      name: "cp-east-1",
      host: "cp-east-1.example",
      port: 22,
      user: "root",
      groups: ["east-group"],
      defaulted: ["user", "port"],
      opsState: "UP",
      reason: 'east-group holds LabAdapter instance "lab-east"',
    });
    expect(opsProxiesToTargets(proxies, "admin", true)[0]?.defaulted).toEqual(["port"]);
  });

  it("takes connection details from an inventory, matched by name or host", () => {
    const inventory: Proxy[] = [
      { name: "cp-east-1", host: "192.0.2.1", port: 2222, user: "ops", identity: "/k", groups: ["lab"] },
      { name: "by-host", host: "10.0.0.3", port: 22, user: "root", jumpSpecs: ["bastion"], groups: [] },
      { name: "cp-other", host: "192.0.2.9", port: 22, user: "root", groups: [] },
    ];
    const merged = mergeInventoryDetails(opsProxiesToTargets(proxies, "root", false), inventory);
    expect(merged.map((p) => [p.name, p.host, p.port, p.user, p.groups, p.opsState])).toEqual([
      ["cp-east-1", "192.0.2.1", 2222, "ops", ["east-group", "lab"], "UP"],
      ["cp-east-2", "10.0.0.3", 22, "root", ["east-group"], "DOWN"],
    ]);
    expect(merged[0]?.identity).toBe("/k");
    expect(merged[1]?.jumpSpecs).toEqual(["bastion"]);
  });
});
