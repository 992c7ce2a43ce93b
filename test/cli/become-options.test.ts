/**
 * The become options as typed inputs: `--become`, `--become-user` and the sudo password from
 * stdin or the environment (one line, registered as a secret), stdin refused to two secrets, and
 * how the query fills in each proxy's become (the inventory's own values win).
 */
import { afterEach, describe, expect, it } from "vitest";
import { proxyQueryOf } from "../../src/cli/targets.js";
import type { Proxy } from "../../src/inventory/proxy.js";
import { clearSecrets, redact } from "../../src/redact.js";
import { withBecome } from "../../src/resolve/resolve-inputs.js";
import { captureTerminal } from "../support/terminal.js";

afterEach(() => clearSecrets());

describe("proxyQueryOf: become", () => {
  it("nothing given: no become query", async () => {
    expect((await proxyQueryOf({}, captureTerminal().terminal)).become).toBeUndefined();
  });

  it("--become --become-user with the password on stdin (its newline dropped), masked from then on", async () => {
    const { terminal } = captureTerminal({ stdin: "pa55-sudo\n" });
    const query = await proxyQueryOf(
      { become: true, "become-user": "app", "become-password-stdin": true },
      terminal,
    );
    expect(query.become).toEqual({ enabled: true, user: "app", password: "pa55-sudo" });
    expect(redact("sudo said pa55-sudo")).toBe("sudo said ***");
  });

  it("MP_SIDELOAD_BECOME_PASSWORD when stdin is not asked", async () => {
    const { terminal } = captureTerminal({ env: { MP_SIDELOAD_BECOME_PASSWORD: "env-pa55" } });
    expect((await proxyQueryOf({ become: true }, terminal)).become).toEqual({
      enabled: true,
      user: undefined,
      password: "env-pa55",
    });
  });

  it.each([
    [
      { "become-password-stdin": true, "registry-password-stdin": true },
      /--registry-password-stdin both want stdin/,
    ],
    [{ "become-password-stdin": true, "ops-password-stdin": true }, /--ops-password-stdin both want stdin/],
  ])("refuses %j: stdin holds one secret", async (values, message) => {
    const error = await proxyQueryOf(
      { become: true, ...values },
      captureTerminal({ stdin: "x\n" }).terminal,
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "USAGE", exitStatus: 2 });
    expect((error as Error).message).toMatch(message);
  });

  it.each([
    ["an empty stdin", { stdin: "" }, "CREDENTIALS_MISSING"],
    ["two lines", { stdin: "one\ntwo\n" }, "USAGE"],
  ])("refuses %s", async (_case, input, code) => {
    const error = await proxyQueryOf(
      { become: true, "become-password-stdin": true },
      captureTerminal(input).terminal,
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ code });
  });

  it("refuses a --become-user that is not a user name", async () => {
    const error = await proxyQueryOf(
      { become: true, "become-user": "-oops" },
      captureTerminal().terminal,
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "USAGE", exitStatus: 2 });
  });
});

describe("withBecome", () => {
  const plain: Proxy = { name: "a", host: "a", port: 22, user: "admin", groups: [] };
  const own: Proxy = {
    ...plain,
    name: "b",
    become: { enabled: true, method: "sudo", user: "svc", password: "inventory-pw" },
  };
  const settingsOnly: Proxy = {
    ...plain,
    name: "c",
    become: { enabled: false, method: "sudo", user: "svc" },
  };

  it("--become turns it on everywhere; the inventory's user and password win over the command line's", () => {
    const out = withBecome([plain, own, settingsOnly], { enabled: true, user: "root", password: "cli-pw" });
    expect(out.map((p) => p.become)).toEqual([
      { enabled: true, method: "sudo", user: "root", password: "cli-pw" },
      { enabled: true, method: "sudo", user: "svc", password: "inventory-pw" },
      { enabled: true, method: "sudo", user: "svc", password: "cli-pw" },
    ]);
  });

  it("without --become only the inventory's become is on; the password still fills in", () => {
    const out = withBecome([plain, own, settingsOnly], { enabled: false, password: "cli-pw" });
    expect(out.map((p) => p.become?.enabled)).toEqual([undefined, true, false]);
    expect(out[0]).toBe(plain);
  });
});
