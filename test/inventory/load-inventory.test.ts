import { describe, expect, it } from "vitest";
import { parseInventory } from "../../src/inventory/load-inventory.js";
import { readLimit, selectProxies } from "../../src/inventory/host-pattern.js";
import { parseProxyArg } from "../../src/inventory/proxy.js";
import { SideloadError } from "../../src/errors.js";

const native = `
defaults:
  user: admin
  identity: keys/id_ed25519
proxies:
  - name: cp-east-1
    host: 10.0.0.5
    groups: [east]
  - name: cp-west-1
    host: cp-west-1.example.com
    port: 2222
    user: root
    dockerSocket: /run/docker.sock
    groups: [west]
`;

const ini = `
# cloud proxies
[east]
cp-east-1 ansible_host=10.0.0.5
cp-east-2 ansible_host=10.0.0.6 ansible_port=2222 ansible_user="ops"

[west]
cp-west-1.example.com

[proxies:children]
east
west

[proxies:vars]
ansible_user=root
ansible_ssh_private_key_file=~/.ssh/cp_key
`;

const ansibleYaml = `
all:
  vars:
    ansible_user: root
  children:
    east:
      hosts:
        cp-east-1: {ansible_host: 10.0.0.5}
        cp-east-2: {ansible_host: 10.0.0.6, ansible_port: 2222}
    west:
      hosts:
        cp-west-1:
      vars:
        ansible_user: ops
`;

describe("parseInventory", () => {
  it("reads the native YAML format with defaults and per-proxy settings", async () => {
    const proxies = await parseInventory(native, "/etc/mp/inventory.yaml", "root");
    expect(proxies).toEqual([
      {
        name: "cp-east-1",
        host: "10.0.0.5",
        port: 22,
        user: "admin",
        identity: "/etc/mp/keys/id_ed25519",
        dockerSocket: undefined,
        groups: ["east"],
        // No port given: the ssh config may set it.
        defaulted: ["port"],
      },
      {
        name: "cp-west-1",
        host: "cp-west-1.example.com",
        port: 2222,
        user: "root",
        identity: "/etc/mp/keys/id_ed25519",
        dockerSocket: "/run/docker.sock",
        groups: ["west"],
        defaulted: undefined,
      },
    ]);
  });

  it("reads an Ansible INI inventory with :children and :vars", async () => {
    const proxies = await parseInventory(ini, "/x/hosts.ini", "nobody");
    expect(proxies.map((p) => [p.name, p.host, p.port, p.user, p.groups.sort().join(",")])).toEqual([
      ["cp-east-1", "10.0.0.5", 22, "root", "east,proxies"],
      ["cp-east-2", "10.0.0.6", 2222, "ops", "east,proxies"],
      ["cp-west-1.example.com", "cp-west-1.example.com", 22, "root", "proxies,west"],
    ]);
    expect(proxies[0]?.identity).toMatch(/\/\.ssh\/cp_key$/);
  });

  it("reads an Ansible YAML inventory; inner group vars win", async () => {
    const proxies = await parseInventory(ansibleYaml, "/x/hosts.yaml", "nobody");
    expect(proxies.map((p) => [p.name, p.host, p.port, p.user])).toEqual([
      ["cp-east-1", "10.0.0.5", 22, "root"],
      ["cp-east-2", "10.0.0.6", 2222, "root"],
      ["cp-west-1", "cp-west-1", 22, "ops"],
    ]);
  });

  it("uses the default user when the inventory names none", async () => {
    expect((await parseInventory("proxies:\n  - host: 10.0.0.9\n", "i.yaml", "root"))[0]?.user).toBe("root");
  });

  it.each([
    ["not YAML", "proxies: [\n", "not valid YAML"],
    ["no proxies", "proxies: []\n", "lists no proxies"],
    ["a hostile host", "proxies:\n  - host: 'cp1;reboot'\n", "is not a host name or address"],
    ["a bad port", "proxies:\n  - {host: cp1, port: 70000}\n", "is not from 1 to 65535"],
    ["a bad user", "proxies:\n  - {host: cp1, user: 'root -oProxyCommand=x'}\n", "is not a user name"],
    [
      "a relative docker socket",
      "proxies:\n  - {host: cp1, dockerSocket: docker.sock}\n",
      "not an absolute path",
    ],
    [
      "a docker socket with shell characters",
      "proxies:\n  - {host: cp1, dockerSocket: \"/run/d.sock'; reboot; '\"}\n",
      "not an absolute path",
    ],
    ["a duplicate name", "proxies:\n  - {host: cp1}\n  - {host: cp1}\n", "listed twice"],
    ["an INI line with an unclosed quote", '[p]\n"\n', "is not a host line"],
    ["an INI host range without an end", "[p]\ncp[01:]\n", "must specify an end"],
    ["an INI line that is not key=value", "[p:vars]\nnonsense\n", "is not key=value"],
    ["an empty Ansible inventory", "all:\n  children: {}\n", "no hosts found"],
  ])("rejects %s with INVENTORY_INVALID", async (_name, text, message) => {
    let error: unknown;
    try {
      await parseInventory(text, "inv.yaml", "root");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SideloadError);
    expect((error as SideloadError).code).toBe("INVENTORY_INVALID");
    expect((error as SideloadError).message).toContain(message);
    expect((error as SideloadError).message).toContain("inv.yaml");
  });
});

describe("selectProxies", async () => {
  const proxies = await parseInventory(ini, "/x/hosts.ini", "root");
  it.each([
    [[], ["cp-east-1", "cp-east-2", "cp-west-1.example.com"]],
    [["east"], ["cp-east-1", "cp-east-2"]],
    [["cp-west-*"], ["cp-west-1.example.com"]],
    [
      ["cp-east-2", "west"],
      ["cp-east-2", "cp-west-1.example.com"],
    ],
    [["east:west"], ["cp-east-1", "cp-east-2", "cp-west-1.example.com"]],
    // Ansible matches inventory names, never ansible_host.
    [["10.0.0.6"], []],
    [["nothing"], []],
  ])("--limit %j", async (patterns, names) => {
    expect(selectProxies(proxies, await readLimit(patterns)).map((p) => p.name)).toEqual(names);
  });
});

describe("parseProxyArg", () => {
  it.each([
    ["cp1", { name: "cp1", host: "cp1", port: 22, user: "root" }],
    ["ops@cp1:2222", { name: "cp1:2222", host: "cp1", port: 2222, user: "ops" }],
    ["10.0.0.5", { name: "10.0.0.5", host: "10.0.0.5", port: 22, user: "root" }],
    ["[fd00::5]:2222", { name: "[fd00::5]:2222", host: "fd00::5", port: 2222, user: "root" }],
  ])("parses %s", (arg, expected) => {
    expect(parseProxyArg(arg, "root")).toMatchObject(expected);
  });
  it.each(["cp1:0", "cp1:x", "bad host", "-oProxyCommand=x", "a b@cp1"])("rejects %j", (arg) => {
    expect(() => parseProxyArg(arg, "root")).toThrow(SideloadError);
  });
});

describe("strict native keys and numbers", () => {
  const errorOf = async (text: string, file = "/x/inv.yaml"): Promise<SideloadError> => {
    try {
      await parseInventory(text, file, "root");
    } catch (error) {
      return error as SideloadError;
    }
    throw new Error("no error");
  };

  it.each([
    [
      "proxies:\n  - {name: a, host: h, prot: 2222}\n",
      /proxies\[0\]: unknown key "prot"/,
      /did you mean "port"\?/,
    ],
    ["proxies:\n  - {name: a, host: h, identiy: k}\n", /unknown key "identiy"/, /did you mean "identity"\?/],
    [
      "defualts: {user: x}\nproxies:\n  - {host: h}\n",
      /inv.yaml: unknown key "defualts"/,
      /did you mean "defaults"\?/,
    ],
    ["defaults: {usr: x}\nproxies:\n  - {host: h}\n", /defaults: unknown key "usr"/, /did you mean "user"\?/],
    ["proxies:\n  - {host: h, colour: blue}\n", /unknown key "colour"/, /^the keys here are name, host/],
  ])("refuses a typo in %j, naming the key and the nearest valid one", async (text, message, hint) => {
    const error = await errorOf(text);
    expect(error.code).toBe("INVENTORY_INVALID");
    expect(error.message).toMatch(message);
    expect(error.hint).toMatch(hint);
  });

  it("ignores Ansible's own variables in Ansible inventories", async () => {
    const yaml = "all:\n  hosts:\n    cp1: {ansible_host: 10.0.0.5, ansible_become: true, ntp_server: x}\n";
    expect((await parseInventory(yaml, "/x/hosts.yaml", "root"))[0]?.host).toBe("10.0.0.5");
  });

  it.each(["0x16", "1e1", "22.0", "+22", "0o26"])("refuses port: %s (decimal digits only)", async (port) => {
    const error = await errorOf(`proxies:\n  - {host: h, port: ${port}}\n`);
    expect(error.code).toBe("INVENTORY_INVALID");
    expect(error.message).toMatch(/port .* is not from 1 to 65535/);
  });

  it("reads plain and quoted decimal ports, and empty defaults", async () => {
    const proxies = await parseInventory(
      'defaults:\nproxies:\n  - {host: a, port: 2222}\n  - {host: b, port: "22"}\n',
      "/x/i.yaml",
      "root",
    );
    expect(proxies.map((p) => p.port)).toEqual([2222, 22]);
  });

  it.each([
    ["INI", "/x/hosts.ini", "[east]\ncp[01:03] ansible_host=10.0.0.5\n", ["cp01", "cp02", "cp03"]],
    [
      "YAML",
      "/x/hosts.yaml",
      "all:\n  children:\n    east:\n      hosts:\n        cp[1:5:2]:\n",
      ["cp1", "cp3", "cp5"],
    ],
    [
      "YAML, alphabetic",
      "/x/hosts.yaml",
      "all:\n  hosts:\n    cp-[a:c].example.com: {}\n",
      ["cp-a.example.com", "cp-b.example.com", "cp-c.example.com"],
    ],
  ])("expands host ranges in %s as Ansible does", async (_what, file, text, names) => {
    expect((await parseInventory(text, file, "root")).map((p) => p.name)).toEqual(names);
  });

  it("refuses a host range of more than 10,000 proxies before expanding it all", async () => {
    const error = await errorOf("[p]\ncp[0:99999999]\n", "/x/hosts.ini");
    expect(error.code).toBe("INVENTORY_TOO_LARGE");
  });

  it("refuses more than 10,000 proxies in a native inventory", async () => {
    const text = `proxies:\n${Array.from({ length: 10_001 }, (_, i) => `  - {host: h${i}}`).join("\n")}\n`;
    expect((await errorOf(text)).code).toBe("INVENTORY_TOO_LARGE");
  });
});

describe("YAML size", () => {
  it("refuses a YAML inventory of more elements than the parser can hold in bounded memory", async () => {
    const text = `proxies: [${Array.from({ length: 400_000 }, () => "1").join(",")}]\n`;
    let error: unknown;
    try {
      await parseInventory(text, "/x/wide.yaml", "root");
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({
      code: "INVENTORY_TOO_LARGE",
      message: "wide.yaml: more than 600,000 YAML elements",
    });
  });
});

describe("jump hosts in inventories", () => {
  it.each([
    [
      "native, per proxy",
      "proxies:\n  - {host: a, jump: ops@bastion:2222}\n",
      "/x/i.yaml",
      ["ops@bastion:2222"],
    ],
    [
      "native, a list in defaults",
      "defaults:\n  jump: [b1, b2]\nproxies:\n  - {host: a}\n",
      "/x/i.yaml",
      ["b1", "b2"],
    ],
    ["Ansible INI, -J", "[p]\na ansible_ssh_common_args='-J ops@b1,b2'\n", "/x/h.ini", ["ops@b1", "b2"]],
    [
      "Ansible YAML, -o ProxyJump=",
      "all:\n  vars:\n    ansible_ssh_common_args: -o ProxyJump=bastion\n  hosts:\n    a:\n",
      "/x/h.yaml",
      ["bastion"],
    ],
    [
      "Ansible, its own jump variable is not ours",
      "all:\n  hosts:\n    a: {jump: elsewhere}\n",
      "/x/h.yaml",
      undefined,
    ],
  ])("%s", async (_what, text, file, jumps) => {
    expect((await parseInventory(text, file, "root"))[0]?.jumpSpecs).toEqual(jumps);
  });

  it("refuses a jump host that is not [user@]host[:port]", async () => {
    await expect(
      parseInventory("proxies:\n  - {host: a, jump: 'bad host'}\n", "/x/i.yaml", "root"),
    ).rejects.toThrow(/jump/);
  });
});
