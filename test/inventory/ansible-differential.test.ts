/**
 * The differential test: for each inventory under fixtures/inventories and each --limit pattern,
 * what mp-sideload selects (names, order, hosts, ports, users, jumps, groups, become) must equal
 * what Ansible itself gives for the same files: `ansible-inventory --list` for the variables,
 * `ansible-playbook --list-hosts` (one play per pattern, one process) and `ansible all --limit
 * --list-hosts` for the hosts. Without Ansible the test is skipped locally and fails in CI.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { loadInventories } from "../../src/inventory/load-inventory.js";
import { readLimit, selectProxies } from "../../src/inventory/host-pattern.js";
import type { Proxy } from "../../src/inventory/proxy.js";
import { captureTerminal } from "../support/terminal.js";

const fixtures = join(import.meta.dirname, "../../fixtures/inventories");
const sample = join(import.meta.dirname, "../../fixtures/sample.pak");
const haveAnsible = spawnSync("ansible", ["--version"], { stdio: "ignore" }).status === 0;

interface Case {
  name: string;
  sources: string[];
  patterns: string[];
}

const cases: Case[] = [
  {
    name: "INI: comments, host:port, ranges and strides, children four deep, priority, ssh aliases",
    sources: [join(fixtures, "ini/hosts.ini")],
    patterns: [
      "east",
      "prod:!west",
      "prod:&west",
      "east:west",
      "east,db",
      "!east",
      "all:!east",
      "!cp-e1",
      "&west",
      "cp-e*",
      "cp-e?",
      "cp-w0[13]",
      "db-[!a]*",
      "~cp-(e|w)0?1",
      "~^db",
      "prod[0]",
      "prod[1:3]",
      "prod[-1]",
      "prod[2:]",
      "cp-e*[1]",
      "east:!cp-e2",
      "*.example.com",
      "world:!db:&prod",
      "region:&east:!cp-e9",
      "!west:east",
      "lone-1",
      "lone-2.example.com",
      "ungrouped",
      "nothing,east",
      "cp-e1 cp-w01",
      "east , west",
      "late",
      "late:&world",
      "all[0]",
      "ungr*",
      "*",
      "east[0]:west[-1]",
      "prod:!east[0]",
      "lone-1:!lone-1",
      "~^pro",
      "db-a.example.com",
    ],
  },
  {
    name: "YAML: hosts in all, ranges, host:port keys, YAML 1.1 numbers, ssh_host over host, become",
    sources: [join(fixtures, "yaml/inventory.yml")],
    patterns: [
      "east",
      "east_dmz",
      "east:!east_dmz",
      "east_dmz:!east_dmz_lab",
      "west:&east",
      "~lab-[15]",
      "edge-*",
      "east[0:1]",
      "east[-1]",
      "all:!west:!edge-1",
      "edge-2",
      "single",
      "solo-*:east_dmz_lab",
    ],
  },
  {
    name: "a folder: INI without extension, YAML, ignored files, a subfolder, group_vars/ and host_vars/",
    sources: [join(fixtures, "dir")],
    patterns: ["east", "west", "db", "all:!west", "cp-w*", "west[1]"],
  },
  {
    name: "conflicting variables: depth, priority, host:port, ssh aliases, group_vars/all over inline groups",
    sources: [join(fixtures, "conflicts/hosts.ini")],
    patterns: ["site", "rack:!node", "site[0]", "node[-1]", "alpha:&beta", "!site", "rack[1:]"],
  },
  {
    name: "two sources, each with its group_vars/",
    sources: [join(fixtures, "multi/a.ini"), join(fixtures, "multi/b/inventory.yml")],
    patterns: ["east", "west", "west_2", "west:!west_2", "east:&west"],
  },
];

let scratch: string;
let ansibleEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-ansible-diff-"));
  await writeFile(join(scratch, "ansible.cfg"), "");
  ansibleEnv = {
    PATH: process.env.PATH,
    HOME: scratch,
    ANSIBLE_CONFIG: join(scratch, "ansible.cfg"),
    ANSIBLE_LOCALHOST_WARNING: "False",
    ANSIBLE_INVENTORY_UNPARSED_WARNING: "False",
    // A source Ansible cannot parse must fail here, not be skipped with a warning.
    ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED: "True",
    ANSIBLE_NOCOLOR: "1",
  };
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function ansible(command: string, args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(command, args, {
    env: ansibleEnv,
    cwd: scratch,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

function inventoryArgs(sources: string[]): string[] {
  return sources.flatMap((s) => ["-i", s]);
}

/** One play per pattern, listed by one ansible-playbook process. */
async function ansibleSets(sources: string[], patterns: string[]): Promise<string[][]> {
  const playbook = join(scratch, `plays-${Math.random().toString(36).slice(2)}.yml`);
  const plays = patterns.map(
    (p, i) => `- name: p${i}\n  hosts: ${JSON.stringify(p)}\n  gather_facts: false\n  tasks: []\n`,
  );
  await writeFile(playbook, plays.join(""));
  const out = await ansible("ansible-playbook", [...inventoryArgs(sources), playbook, "--list-hosts"]);
  const blocks = out.split(/\n\s*play #\d+ /).slice(1);
  return blocks.map((block) => {
    const lines = block.split("\n");
    const at = lines.findIndex((l) => /^\s*hosts \(\d+\):/.test(l));
    const count = Number(/\((\d+)\)/.exec(lines[at] ?? "")?.[1] ?? "0");
    return lines.slice(at + 1, at + 1 + count).map((l) => l.trim());
  });
}

async function listHosts(sources: string[], pattern: string, limit?: string): Promise<string[]> {
  const out = await ansible("ansible", [
    ...inventoryArgs(sources),
    pattern,
    ...(limit === undefined ? [] : ["--limit", limit]),
    "--list-hosts",
  ]);
  return out
    .split("\n")
    .slice(1)
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

type HostVarsJson = Record<string, Record<string, unknown>>;
interface InventoryJson {
  _meta: { hostvars: HostVarsJson };
  [group: string]: { hosts?: string[]; children?: string[] } | { hostvars: HostVarsJson };
}

/** What Ansible's ssh connection would use for each host, from `ansible-inventory --list`. */
function expectedProxy(name: string, inv: InventoryJson) {
  const v = inv._meta.hostvars[name] ?? {};
  // The ssh plugin keeps the last of its names that is set; these are plain values here.
  const last = (...names: string[]): string | number | boolean | undefined => {
    for (const n of names.reverse()) {
      const value = v[n];
      if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return value;
    }
    return undefined;
  };
  const args = [v.ansible_ssh_common_args, v.ansible_ssh_extra_args].find(
    (a) => typeof a === "string" && /(?:^|\s)(?:-J|-o\s*ProxyJump)/.test(a),
  ) as string | undefined;
  const jump = args ? /(?:-J\s*|-o\s*ProxyJump[= ])["']?([^\s"']+)/.exec(args)?.[1]?.split(",") : undefined;
  const become =
    v.ansible_become === undefined
      ? false
      : ["true", "yes", "1", "on"].includes(String(last("ansible_become")).toLowerCase());
  return {
    name,
    host: String(last("ansible_host", "ansible_ssh_host") ?? name),
    port: Number(last("ansible_port", "ansible_ssh_port") ?? 22),
    user: String(last("ansible_user", "ansible_ssh_user") ?? "root"),
    jumps: (jump ?? []).map(normalHop),
    groups: groupsOf(name, inv),
    identity: last("ansible_private_key_file", "ansible_ssh_private_key_file"),
    become: become ? String(last("ansible_become_user", "ansible_sudo_user") ?? "") : undefined,
  };
}

function normalHop(spec: string): string {
  const m = /^(?:([^@]+)@)?([^:]+)(?::(\d+))?$/.exec(spec);
  return `${m?.[1] ?? "root"}@${m?.[2] ?? spec}:${m?.[3] ?? "22"}`;
}

function groupsOf(host: string, inv: InventoryJson): string[] {
  const parents = new Map<string, string[]>();
  const direct: string[] = [];
  for (const [group, entry] of Object.entries(inv)) {
    if (group === "_meta" || "hostvars" in entry) continue;
    if (entry.hosts?.includes(host)) direct.push(group);
    for (const child of entry.children ?? []) parents.set(child, [...(parents.get(child) ?? []), group]);
  }
  const out = new Set<string>();
  const walk = (g: string) => {
    if (out.has(g)) return;
    out.add(g);
    for (const p of parents.get(g) ?? []) walk(p);
  };
  direct.forEach(walk);
  return [...out].filter((g) => g !== "all" && g !== "ungrouped").sort();
}

function ours(p: Proxy) {
  return {
    name: p.name,
    host: p.host,
    port: p.port,
    user: p.user,
    jumps: (p.jumpSpecs ?? []).map(normalHop),
    groups: [...p.groups].sort(),
    identity: p.identity,
    become: p.become?.enabled ? (p.become.user ?? "") : undefined,
  };
}

const suite = haveAnsible || process.env.CI ? describe : describe.skip;

suite("mp-sideload reads inventories as Ansible does", () => {
  it("finds Ansible (CI installs Debian's ansible)", () => {
    expect(haveAnsible, "ansible is not on PATH: install it (apt-get install ansible)").toBe(true);
  });

  describe.each(cases)("$name", ({ sources, patterns }) => {
    let inv: InventoryJson;
    let allOrder: string[];
    let sets: string[][];
    let loaded: Awaited<ReturnType<typeof loadInventories>>;

    beforeAll(async () => {
      if (!haveAnsible) return;
      [inv, allOrder, sets, loaded] = await Promise.all([
        ansible("ansible-inventory", [...inventoryArgs(sources), "--list"]).then(
          (o) => JSON.parse(o) as InventoryJson,
        ),
        listHosts(sources, "all"),
        ansibleSets(sources, patterns),
        loadInventories(sources, { defaultUser: "root" }),
      ]);
    }, 60_000);

    it("every host, in Ansible's order, with Ansible's connection variables and groups", () => {
      expect(loaded.proxies.map((p) => p.name)).toEqual(allOrder);
      expect(loaded.proxies.map(ours)).toEqual(allOrder.map((name) => expectedProxy(name, inv)));
    });

    it.each(patterns.map((p, i) => [p, i] as const))("--limit %j", async (pattern, i) => {
      const chosen = new Set(sets[i]);
      const expected = allOrder.filter((h) => chosen.has(h));
      const selected = selectProxies(loaded.proxies, await readLimit([pattern]), loaded.index);
      expect(selected.map((p) => p.name)).toEqual(expected);
    });
  });

  describe("the command line: verify --dry-run --json --limit P", () => {
    const file = join(fixtures, "ini/hosts.ini");
    const patterns = ["prod:!west", "east:&prod", "!cp-e1", "all:!east", "~db-[ab]", "prod[1:2]"];
    let inv: InventoryJson;
    let allOrder: string[];
    let sets: string[][];
    let withFile: string[];
    let limitFile: string;

    beforeAll(async () => {
      if (!haveAnsible) return;
      limitFile = join(scratch, "retry.txt");
      await writeFile(limitFile, "cp-w01\n!cp-e2\n\nwest\n");
      [inv, allOrder, sets, withFile] = await Promise.all([
        ansible("ansible-inventory", ["-i", file, "--list"]).then((o) => JSON.parse(o) as InventoryJson),
        listHosts([file], "all"),
        ansibleSets([file], patterns),
        listHosts([file], "all", `cp-e1,@${limitFile}`),
      ]);
    }, 60_000);

    async function plan(limit: string) {
      const t = captureTerminal();
      const code = await main(
        [
          "verify",
          sample,
          "--inventory",
          file,
          "--limit",
          limit,
          "--dry-run",
          "--json",
          "--ssh-config",
          "none",
        ],
        t.terminal,
      );
      expect(t.stderr()).toBe("");
      expect(code).toBe(0);
      type Planned = {
        name: string;
        host: string;
        port: number;
        user: string;
        jump?: { user: string; host: string; port: number }[];
      };
      return (JSON.parse(t.stdout()) as { plan: Planned[] }).plan.map((p) => ({
        name: p.name,
        host: p.host,
        port: p.port,
        user: p.user,
        jumps: (p.jump ?? []).map((h) => `${h.user}@${h.host}:${h.port}`),
      }));
    }

    function expected(names: string[]) {
      return names.map((n) => {
        const e = expectedProxy(n, inv);
        return { name: e.name, host: e.host, port: e.port, user: e.user, jumps: e.jumps };
      });
    }

    it.each(patterns.map((p, i) => [p, i] as const))("--limit %j", async (pattern, i) => {
      const chosen = new Set(sets[i]);
      expect(await plan(pattern)).toEqual(expected(allOrder.filter((h) => chosen.has(h))));
    });

    it("--limit 'cp-e1,@FILE' (a retry file: one pattern a line)", async () => {
      expect(await plan(`cp-e1,@${limitFile}`)).toEqual(expected(withFile));
    });

    it("several --limit options: each is Ansible's, and they apply together (east,!cp-e1)", async () => {
      const expectedNames = await listHosts([file], "all", "east,!cp-e1");
      const loaded = await loadInventories([file], { defaultUser: "root" });
      const selected = selectProxies(loaded.proxies, await readLimit(["east", "!cp-e1"]), loaded.index);
      expect(selected.map((p) => p.name)).toEqual(expectedNames);
    });
  });

  describe.concurrent("what Ansible refuses, mp-sideload refuses (exit 2, never a guess)", () => {
    it.each([
      [
        "a ; after a host's variables",
        "hosts.ini",
        "[p]\ncp1 ansible_port=22 ; not a comment here\n",
        "INVENTORY_INVALID",
      ],
      ["an unclosed quote", "hosts.ini", '[p]\ncp1 ansible_user="ops\n', "INVENTORY_INVALID"],
      ["a [x:vars] for no group", "hosts.ini", "[p]\ncp1\n[q:vars]\na=1\n", "INVENTORY_INVALID"],
      ["a child that is never defined", "hosts.ini", "[p:children]\nq\n", "INVENTORY_INVALID"],
      ["a range without an end", "hosts.ini", "[p]\ncp[1:]\n", "INVENTORY_INVALID"],
      ["a range of unequal widths", "hosts.ini", "[p]\ncp[01:100]\n", "INVENTORY_INVALID"],
    ])("%s", async (_what, name, text, code) => {
      const dir = await mkdtemp(join(scratch, "bad-"));
      const file = join(dir, name);
      await writeFile(file, text);
      await expect(ansible("ansible-inventory", ["-i", file, "--list"])).rejects.toThrow();
      await expect(loadInventories([file], { defaultUser: "root" })).rejects.toMatchObject({ code });
    });

    it("a vault-encrypted group_vars file: INVENTORY_VAULT naming it", async () => {
      const dir = await mkdtemp(join(scratch, "vault-"));
      await mkdir(join(dir, "group_vars"));
      await writeFile(join(dir, "hosts.ini"), "[p]\ncp1\n");
      await writeFile(join(dir, "group_vars", "all.yml"), "$ANSIBLE_VAULT;1.1;AES256\n6136\n");
      await expect(ansible("ansible-inventory", ["-i", join(dir, "hosts.ini"), "--list"])).rejects.toThrow();
      await expect(loadInventories([join(dir, "hosts.ini")], { defaultUser: "root" })).rejects.toMatchObject({
        code: "INVENTORY_VAULT",
        message: expect.stringContaining(join(dir, "group_vars", "all.yml")) as string,
        hint: expect.stringMatching(/decrypt it .*or pass the values another way/) as string,
      });
    });

    it("a subscript past the end: LIMIT_INVALID", async () => {
      const file = join(fixtures, "ini/hosts.ini");
      await expect(listHosts([file], "all", "prod[99]")).rejects.toThrow();
      const loaded = await loadInventories([file], { defaultUser: "root" });
      let error: unknown;
      try {
        selectProxies(loaded.proxies, ["prod[99]"], loaded.index);
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({ code: "LIMIT_INVALID" });
    });
  });
});
