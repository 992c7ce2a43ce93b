/**
 * The lab's become proxy (`scripts/lab.sh root-login I off`): root cannot log in, the admin
 * users can but are outside the engines' group, and sudo (without and with a password) reaches
 * the engine. Also the become inventories the lab writes, read as the tool reads them.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadInventories } from "../../src/inventory/load-inventory.js";
import { parseReport, runCli } from "./cli.js";
import { labCtl, loadLab, type Lab } from "./lab.js";

let lab: Lab;
const proxy = 2;
let sudoPassword: string;

beforeAll(async () => {
  lab = loadLab();
  await labCtl("root-login", String(proxy), "off");
  sudoPassword = (await readFile(join(lab.dir, "secrets/sudo-password"), "utf8")).trim();
});

afterAll(async () => {
  await labCtl("root-login", String(proxy), "on");
});

/** Run a command on the become proxy with OpenSSH as `user`; stdin optional. */
function ssh(
  user: string,
  command: string,
  stdin = "",
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      "ssh",
      [
        ...["-F", "none", "-o", "BatchMode=yes", "-o", `UserKnownHostsFile=${lab.knownHosts}`],
        ...[
          "-o",
          "StrictHostKeyChecking=yes",
          "-i",
          lab.identity,
          "-p",
          String(lab.firstSshPort + proxy - 1),
        ],
        `${user}@127.0.0.1`,
        command,
      ],
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(stdin);
  });
}

describe("the lab's proxy where root cannot log in", () => {
  it("refuses root, lets mpadmin and mpsudo in, outside the engines' group", async () => {
    expect((await ssh("root", "true")).code).toBe(255);
    const admin = await ssh("mpadmin", "id -nG; docker version --format '{{.Server.Version}}'");
    expect(admin.stdout.trim().split("\n")[0]).toBe("mpadmin");
    expect(admin.stderr).toMatch(/permission denied/);
  });

  it("mpadmin reaches the engine with sudo -n; mpsudo with its password on stdin, and not without", async () => {
    expect((await ssh("mpadmin", "sudo -n docker version --format '{{.Server.Version}}'")).code).toBe(0);
    expect((await ssh("mpsudo", "sudo -n true")).stderr).toMatch(/a password is required/);
    const right = await ssh(
      "mpsudo",
      "sudo -S -p '' docker version --format '{{.Server.Version}}'",
      `${sudoPassword}\n`,
    );
    expect(right.code, right.stderr).toBe(0);
    expect((await ssh("mpsudo", "sudo -S -p '' true", "wrong-password\n")).code).not.toBe(0);
  });

  it("its inventories ask for become, with the sudo password carried and never printed", async () => {
    const native = await loadInventories([join(lab.dir, "client/inventory-become.yaml")], {
      defaultUser: "root",
    });
    expect(native.proxies.map((p) => [p.name, p.user, p.become?.enabled])).toEqual([
      [`become-${proxy}`, "mpadmin", true],
      [`become-pw-${proxy}`, "mpsudo", true],
    ]);
    const ansible = await loadInventories([join(lab.dir, "client/inventory-become.ini")], {
      defaultUser: "root",
    });
    expect(ansible.proxies.map((p) => [p.name, p.user, p.become])).toEqual([
      [`become-${proxy}`, "mpadmin", { enabled: true, method: "sudo" }],
      [`become-pw-${proxy}`, "mpsudo", { enabled: true, method: "sudo", password: sudoPassword }],
    ]);
    const run = await runCli([
      "verify",
      lab.paks.sample,
      ...["--inventory", join(lab.dir, "client/inventory-become.ini"), "--known-hosts", lab.knownHosts],
      ...["--json", "--debug"],
    ]);
    expect(`${run.stdout}${run.stderr}`).not.toContain(sudoPassword);
    // The inventories' become reaches the engine through sudo (NOPASSWD, and with the file's
    // password): no proxy fails, each reports whether it holds the image.
    const rows = parseReport(run).proxies;
    expect(rows.map((p) => p.error?.code)).toEqual([undefined, undefined]);
    for (const row of rows) expect(["present", "missing"]).toContain(row.status);
  });
});
