import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redact } from "../../src/redact.js";
import type { SideloadError } from "../../src/errors.js";
import { readLimit, selectProxies } from "../../src/inventory/host-pattern.js";
import { loadInventories, parseInventory } from "../../src/inventory/load-inventory.js";

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "mp-sideload-ansible-inv-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** Write files under a new folder; returns the folder. */
async function tree(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(scratch, "t-"));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text, { mode: 0o600 });
  }
  return dir;
}

async function errorOf(promise: Promise<unknown>): Promise<SideloadError> {
  try {
    await promise;
  } catch (error) {
    return error as SideloadError;
  }
  throw new Error("no error");
}

describe("native inventories keep their own messages", () => {
  it.each([
    ["proxy:\n  - {name: a, host: h}\n", /unknown key "proxy"/, /did you mean "proxies"\?/],
    ["defaults: {user: x}\nproxie:\n  cp1: {host: h}\n", /unknown key "proxie"/, /did you mean "proxies"\?/],
  ])("%j gets the native format's hint, not Ansible's", async (text, message, hint) => {
    const error = await errorOf(parseInventory(text, "/x/inventory.yaml", "root"));
    expect(error.code).toBe("INVENTORY_INVALID");
    expect(error.message).toMatch(message);
    expect(error.hint).toMatch(hint);
  });

  it("reads become: true per proxy and in defaults", async () => {
    const proxies = await parseInventory(
      "defaults: {become: true}\nproxies:\n  - {host: a}\n  - {host: b, become: false}\n  - {host: c, becomeUser: ops}\n",
      "/x/i.yaml",
      "root",
    );
    expect(proxies.map((p) => p.become)).toEqual([
      { enabled: true, method: "sudo" },
      { enabled: false, method: "sudo" },
      { enabled: true, method: "sudo", user: "ops" },
    ]);
  });

  it("refuses become: maybe", async () => {
    expect(
      (await errorOf(parseInventory("proxies:\n  - {host: a, become: maybe}\n", "/x/i.yaml", "root")))
        .message,
    ).toMatch(/become "\\"maybe\\"" is not true or false|become .*maybe.* is not true or false/);
  });
});

describe("Ansible connection variables", () => {
  it("an SSH and a sudo password are carried, registered as secrets, never in messages", async () => {
    const [p] = await parseInventory(
      "[p]\ncp1 ansible_password=Ssh-Secret-1 ansible_become=yes ansible_become_password=Sudo-Secret-2 ansible_become_user=ops\n",
      "/x/hosts.ini",
      "root",
    );
    expect(p?.password).toBe("Ssh-Secret-1");
    expect(p?.become).toEqual({ enabled: true, method: "sudo", user: "ops", password: "Sudo-Secret-2" });
    expect(redact("a Ssh-Secret-1 b Sudo-Secret-2")).toBe("a *** b ***");
  });

  it.each([
    [
      "ansible_ssh_password beats ansible_ssh_pass beats ansible_password",
      "[p]\ncp1 ansible_password=aaaa1 ansible_ssh_pass=bbbb2 ansible_ssh_password=cccc3\n",
      "cccc3",
    ],
    [
      "ansible_ssh_pass beats ansible_password",
      "[p]\ncp1 ansible_password=aaaa1 ansible_ssh_pass=bbbb2\n",
      "bbbb2",
    ],
  ])("%s (the ssh plugin keeps the last of its names)", async (_what, text, password) => {
    expect((await parseInventory(text, "/x/hosts.ini", "root"))[0]?.password).toBe(password);
  });

  it("refuses a become method other than sudo, only where become is on", async () => {
    const error = await errorOf(
      parseInventory("[p]\ncp1 ansible_become=true ansible_become_method=su\n", "/x/hosts.ini", "root"),
    );
    expect(error.message).toMatch(/ansible_become_method "su" is not supported; .*sudo only/);
    const [p] = await parseInventory(
      "[p]\ncp1 ansible_become=false ansible_become_method=su\n",
      "/x/hosts.ini",
      "root",
    );
    expect(p?.become).toBeUndefined();
  });

  it("refuses a Jinja2 template where a connection value belongs", async () => {
    const error = await errorOf(
      parseInventory(
        'all:\n  hosts:\n    cp1:\n      ansible_host: \'{{ lookup("env", "X") }}\'\n',
        "/x/h.yml",
        "root",
      ),
    );
    expect(error.message).toMatch(/cp1: ansible_host is a Jinja2 template/);
  });

  it("refuses an inline !vault value it needs, and ignores one it does not", async () => {
    const vaulted = "!vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        6136\n";
    const error = await errorOf(
      parseInventory(
        `all:\n  hosts:\n    cp1:\n      ansible_become_password: ${vaulted}`,
        "/x/h.yml",
        "root",
      ),
    );
    expect(error.code).toBe("INVENTORY_VAULT");
    expect(error.message).toMatch(/cp1: ansible_become_password is encrypted with ansible-vault/);
    const [p] = await parseInventory(
      `all:\n  hosts:\n    cp1:\n      db_password: ${vaulted}`,
      "/x/h.yml",
      "root",
    );
    expect(p?.host).toBe("cp1");
  });

  it("warns when the file holding a password can be read by others, naming it and not the password", async () => {
    const dir = await tree({
      "hosts.ini": "[p]\ncp1\ncp2\n",
      "host_vars/cp1.yml": "ansible_password: Hidden-Pass-9\n",
    });
    await chmod(join(dir, "host_vars/cp1.yml"), 0o644);
    const warnings: string[] = [];
    const loaded = await loadInventories([join(dir, "hosts.ini")], {
      defaultUser: "root",
      onWarning: (m) => warnings.push(m),
    });
    expect(loaded.proxies[0]?.password).toBe("Hidden-Pass-9");
    expect(warnings).toEqual([
      `${join(dir, "host_vars/cp1.yml")} holds ansible_password and can be read by others than its owner (mode 644): chmod 600 ${join(dir, "host_vars/cp1.yml")}`,
    ]);
    await chmod(join(dir, "host_vars/cp1.yml"), 0o600);
    const quiet: string[] = [];
    await loadInventories([join(dir, "hosts.ini")], { defaultUser: "root", onWarning: (m) => quiet.push(m) });
    expect(quiet).toEqual([]);
  });
});

describe("Ansible sources", () => {
  it.each([
    ["an inventory script", "inv", "#!/usr/bin/env python3\nprint('{}')\n", /inventory script/],
    ["a TOML inventory", "inv.toml", "[all.hosts]\n", /TOML inventories are not read/],
    [
      "an inventory plugin's configuration",
      "aws.yml",
      "plugin: amazon.aws.aws_ec2\n",
      /inventory plugin configuration/,
    ],
    ["a loop of children", "h.ini", "[a:children]\nb\n[b:children]\na\n", /creates a loop of groups/],
    [
      "a group_vars file that is not a mapping",
      "h.ini",
      "[p]\ncp1\n",
      /group_vars\/all.yml: expected a mapping/,
    ],
    ["an unknown key in a YAML group", "h.yml", "all:\n  host:\n    cp1:\n", /unknown key "host"/],
    ["an unknown INI section type", "h.ini", "[p:hostz]\ncp1\n", /has an unknown type/],
  ])("refuses %s", async (what, name, text, message) => {
    const dir = await tree({
      [name]: text,
      ...(what.includes("group_vars") ? { "group_vars/all.yml": "- a list\n" } : {}),
    });
    const error = await errorOf(loadInventories([join(dir, name)], { defaultUser: "root" }));
    expect(error.code).toBe("INVENTORY_INVALID");
    expect(error.message).toMatch(message);
  });

  it("reads a comma list of hosts as Ansible's host_list source", async () => {
    const loaded = await loadInventories(["cp1,cp2.example.com:2222,"], { defaultUser: "root" });
    expect(loaded.proxies.map((p) => [p.name, p.host, p.port])).toEqual([
      ["cp1", "cp1", 22],
      ["cp2.example.com", "cp2.example.com", 2222],
    ]);
  });

  it("refuses a native inventory merged with another source", async () => {
    const dir = await tree({ "native.yaml": "proxies:\n  - {host: a}\n", "h.ini": "[p]\ncp1\n" });
    const error = await errorOf(
      loadInventories([join(dir, "native.yaml"), join(dir, "h.ini")], { defaultUser: "root" }),
    );
    expect(error.message).toMatch(/a native inventory \(native.yaml\) cannot be merged with others/);
  });

  it("the 10,000-proxy limit counts hosts after ranges, across sources", async () => {
    const dir = await tree({ "a.ini": "[p]\na[0000:5999]\n", "b.ini": "[q]\nb[0000:4999]\n" });
    const error = await errorOf(
      loadInventories([join(dir, "a.ini"), join(dir, "b.ini")], { defaultUser: "root" }),
    );
    expect(error.code).toBe("INVENTORY_TOO_LARGE");
  });
});

describe("--limit", () => {
  const ini = "[east]\ncp-e1\ncp-e2\n[west]\ncp-w1\ncp-e2\n[prod:children]\neast\nwest\n";

  it.each([
    [["prod:!west"], ["cp-e1"]],
    [["!west"], ["cp-e1"]],
    [["west:!cp-e2", "cp-e2"], ["cp-w1"]],
    [["east:&west"], ["cp-e2"]],
  ])("%j never selects an excluded proxy", async (limit, names) => {
    const loaded = await loadInventories([await writeIni(ini)], { defaultUser: "root" });
    expect(selectProxies(loaded.proxies, await readLimit(limit), loaded.index).map((p) => p.name)).toEqual(
      names,
    );
  });

  it.each([
    ["", /names no hosts/],
    ["~(", /not a valid regular expression/],
    ["~(?i)cp", /Python inline flags/],
    ["!", /has nothing after/],
  ])("refuses %j with LIMIT_INVALID", async (limit, message) => {
    const error = await errorOf(readLimit([limit]));
    expect(error.code).toBe("LIMIT_INVALID");
    expect(error.message).toMatch(message);
  });

  it("refuses @FILE that does not exist", async () => {
    expect((await errorOf(readLimit(["@/nonexistent/retry"]))).code).toBe("FILE_NOT_FOUND");
  });
});

async function writeIni(text: string): Promise<string> {
  const dir = await tree({ "hosts.ini": text });
  return join(dir, "hosts.ini");
}
