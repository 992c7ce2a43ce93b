/**
 * One place decides the exit status: the table of error codes (errors.ts) and the table of
 * command outcomes (src/cli/results.ts). And the wizard's closing command is derived from the
 * inputs the run was given: read back through `pull`'s own option parsing, it gives exactly
 * those inputs, so the two can never differ.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SideloadError, errorKinds, exitStatusOf, type ErrorCode } from "../../src/errors.js";
import { parseCommandArgs } from "../../src/cli/args.js";
import { opsConnectionFrom } from "../../src/cli/ops-options.js";
import { readCaOption } from "../../src/registry/ca-file.js";
import { argvOfInputs } from "../../src/cli/closing-command.js";
import { sideloadInputsOf, sideloadOptions } from "../../src/cli/commands/sideload-command.js";
import { run as inspect } from "../../src/cli/commands/inspect.js";
import { main } from "../../src/cli/main.js";
import { exitStatusOfResult, type CommandResult } from "../../src/cli/results.js";
import { signalReason } from "../../src/cli/terminal.js";
import { inputsOfAnswers, type WizardAnswers } from "../../src/cli/wizard-answers.js";
import { runDefaults } from "../../src/resolve/inputs.js";
import type { SideloadResult } from "../../src/sideload/run-sideload.js";
import type { InstallResult } from "../../src/install/run-install.js";
import { installInputsOf, installOptions } from "../../src/cli/commands/install.js";
import { captureTerminal } from "../support/terminal.js";

const unchanged = { proxiesChanged: false };
const changed = { proxiesChanged: true };

describe("the exit status of an error that ends a run", () => {
  it.each([
    ["USAGE", 2, 1],
    ["PAK_NOT_ZIP", 2, 1],
    ["FILE_NOT_WRITABLE", 2, 1],
    ["CREDENTIALS_MISSING", 2, 1],
    ["OPS_UNTRUSTED_CA", 2, 1],
    // The registry gate's refusals: before any credential reached a proxy.
    ["REGISTRY_UNAUTHORIZED", 2, 1],
    ["MANIFEST_UNKNOWN", 2, 1],
    ["PLATFORM_MISSING", 2, 1],
    ["REGISTRY_BAD_ANSWER", 2, 1],
    // A proxy's own failures, where the modules being restructured still set them by hand.
    ["SSH_UNREACHABLE", 1, 1],
    ["HOSTKEY_MISMATCH", 1, 1],
    ["SSH_DISCONNECTED", 1, 1],
    ["BECOME_FAILED", 1, 1],
    ["ENGINE_UNREACHABLE", 1, 1],
    ["ENGINE_RESTARTED", 1, 1],
    ["PULL_STALLED", 1, 1],
    ["PULL_FAILED", 1, 1],
    ["PROXY_DISK_FULL", 1, 1],
    ["REGISTRY_CA_FAILED", 1, 1],
    ["VERIFY_FAILED", 1, 1],
    ["PRUNE_CONFLICT", 1, 1],
    ["TIMEOUT", 1, 1],
    // install: the account checked before any proxy; CaSA's ends come after the sideloads.
    ["CASA_FORBIDDEN", 2, 1],
    ["CASA_TIMEOUT", 1, 1],
    ["INSTALL_FAILED", 1, 1],
    ["INTERRUPTED", 130, 130],
  ] as [ErrorCode, number, number][])("%s: %i before any proxy changed, %i after", (code, before, after) => {
    const error = new SideloadError(code, "m");
    expect(exitStatusOf(error, unchanged)).toBe(before);
    expect(exitStatusOf(error, changed)).toBe(after);
    expect(error.exitStatus).toBe(before);
  });

  it("a crash (not a SideloadError) is INTERNAL: 2 only while no proxy was changed", () => {
    expect(exitStatusOf(new TypeError("x"), unchanged)).toBe(2);
    expect(exitStatusOf(new TypeError("x"), changed)).toBe(1);
    expect(exitStatusOf(new SideloadError("INTERNAL", "x"), changed)).toBe(1);
  });

  it("an interruption exits 128 + its signal's number, whatever was changed", () => {
    expect(exitStatusOf(signalReason("SIGINT"), changed)).toBe(130);
    expect(exitStatusOf(signalReason("SIGTERM"), changed)).toBe(143);
    expect(exitStatusOf(signalReason("SIGHUP"), unchanged)).toBe(129);
  });

  it("every code has its entry in the table", () => {
    expect(Object.keys(errorKinds).length).toBeGreaterThan(60);
    for (const kind of Object.values(errorKinds))
      expect(["input", "proxy", "interrupted", "internal"]).toContain(kind);
  });
});

describe("the exit status of a command's result", () => {
  const signal = new AbortController().signal;
  const sideloaded = (failed: number, extra: Partial<SideloadResult> = {}): CommandResult => ({
    kind: "sideloaded",
    inputs: inputsOfAnswers({ paks: ["a.pak"], defaultRegistry: undefined, targets: none }),
    result: {
      report: { command: "pull", references: [], proxies: [], summary: { ok: 0, failed, total: failed } },
      registries: [],
      ...extra,
    },
  });
  const installed = (outcome: InstallResult["outcome"]): CommandResult => {
    const sideload = sideloaded(0);
    if (sideload.kind !== "sideloaded") throw new Error("unreachable");
    return {
      kind: "installed",
      inputs: sideload.inputs,
      result: {
        sideload: sideload.result,
        gate: { ready: true, notReady: [], failed: [] },
        installs: [],
        outcome,
      },
    };
  };
  it.each([
    ["help or a plan", { kind: "shown" }, 0],
    ["the usage without a terminal", { kind: "usage" }, 2],
    ["declined at go?", { kind: "declined" }, 0],
    ["check-registry, all pullable", { kind: "checked", failed: 0 }, 0],
    ["check-registry, one not", { kind: "checked", failed: 1 }, 1],
    ["doctor, a check failed", { kind: "doctored", failedChecks: 2 }, 1],
    ["a pull, every proxy ok", sideloaded(0), 0],
    ["a pull, a proxy failed", sideloaded(1), 1],
    [
      "a pull, every proxy ok but a collector group not ready",
      sideloaded(0, { coverage: { groups: [], ready: false, partial: ["east"] } }),
      1,
    ],
    [
      "verify --running, every proxy ok but an instance without a running container",
      { ...sideloaded(0), running: { ok: false, rows: [] } },
      1,
    ],
    ["install: the pack installed", installed("installed"), 0],
    ["install: a collector group not ready, nothing uploaded", installed("not-ready"), 1],
    ["install: the install failed", installed("failed"), 1],
  ] as [string, CommandResult, number][])("%s: %i", (_what, result, status) => {
    expect(exitStatusOfResult(result, signal)).toBe(status);
  });

  it("an interrupted run exits with its signal's status, whatever the result", () => {
    const controller = new AbortController();
    controller.abort(signalReason("SIGTERM"));
    expect(exitStatusOfResult(sideloaded(0), controller.signal)).toBe(143);
  });

  it("a command returns what it did: inspect gives the pak it read", async () => {
    const { terminal } = captureTerminal();
    const result = await inspect({ argv: ["fixtures/sample.pak"], terminal, state: { ...unchanged } });
    expect(result).toMatchObject({
      kind: "inspected",
      pak: { adapters: [{ kind: expect.any(String) as string }] },
    });
    expect(await main(["inspect", "fixtures/sample.pak"], terminal)).toBe(0);
  });
});

const none = { inventories: [], proxies: [], limit: [] };

describe("the wizard's closing command gives back the very inputs of the run", () => {
  let dir: string;
  let ca: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mp-sideload-closing-"));
    ca = join(dir, "ops-ca.pem");
    await promisify(execFile)("openssl", [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-keyout", join(dir, "key.pem"), "-out", ca, "-subj", "/CN=ops", "-days", "1"],
    ]);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it.each([
    [
      "an inventory, two of its proxies",
      { inventories: ["/p/inventory.yaml"], proxies: [], limit: ["cp-1", "cp-3"] },
    ],
    ["proxies typed", { ...none, proxies: ["root@10.0.0.5", "admin@[::1]:2222"] }],
    ["VCF Operations, its CA, collector groups", "ops-groups"],
    ["VCF Operations, every cloud proxy", "ops-all"],
  ] as [string, WizardAnswers["targets"] | string][])("%s", async (_what, given) => {
    const { terminal } = captureTerminal({ env: { MP_SIDELOAD_OPS_PASSWORD: "ops-pw-closing", HOME: dir } });
    const connection = {
      ...(await opsConnectionFrom("https://ops.example.com", { "ops-user": "admin" }, terminal)),
    };
    const targets: WizardAnswers["targets"] =
      typeof given !== "string"
        ? given
        : {
            ...none,
            ops: {
              connection: { ...connection, ca: await readCaOption(ca) },
              caFile: ca,
              ...(given === "ops-all" ? { all: true } : { collectorGroups: ["east-group", "west group"] }),
            },
          };
    const inputs = inputsOfAnswers({ paks: [join(dir, "a.pak")], defaultRegistry: "harbor:8443", targets });
    const argv = argvOfInputs(inputs);
    expect(argv.join(" ")).not.toContain("ops-pw-closing");
    const [mode, ...rest] = argv;
    expect(mode).toBe("pull");
    const { values, positionals } = parseCommandArgs("pull", rest, sideloadOptions);
    const again = await sideloadInputsOf("pull", values, positionals, terminal);
    const { stallTimeoutMs, ...comparable } = again;
    expect(stallTimeoutMs).toBe(runDefaults.stallTimeoutSeconds * 1000);
    expect(JSON.parse(JSON.stringify(comparable))).toEqual(JSON.parse(JSON.stringify(inputs)));
  });
});

describe("the wizard's closing command after 'Install the pack now?'", () => {
  it("is install, read back through install's own option parsing to the very inputs", async () => {
    const { terminal } = captureTerminal({
      env: { MP_SIDELOAD_OPS_PASSWORD: "ops-pw-install", HOME: tmpdir() },
    });
    const connection = await opsConnectionFrom("https://ops.example.com", { "ops-user": "admin" }, terminal);
    const targets = { ...none, ops: { connection, collectorGroups: ["east-group"] } };
    const answers = { paks: ["/p/a.pak"], defaultRegistry: undefined, targets };
    expect(inputsOfAnswers(answers).install).toBeUndefined();
    const inputs = inputsOfAnswers({ ...answers, install: true });
    expect(inputs.install).toEqual({ force: false, timeoutMs: runDefaults.installTimeoutSeconds * 1000 });
    const argv = argvOfInputs(inputs);
    expect(argv.join(" ")).not.toContain("ops-pw-install");
    const [command, ...rest] = argv;
    expect(command).toBe("install");
    const { values, positionals } = parseCommandArgs("install", rest, installOptions);
    const again = await installInputsOf(values, positionals, terminal);
    const { stallTimeoutMs: _stall, ...comparable } = again;
    expect(JSON.parse(JSON.stringify(comparable))).toEqual(JSON.parse(JSON.stringify(inputs)));
  });

  it("without VCF Operations there is nothing to install: the answer is not taken", () => {
    const inputs = inputsOfAnswers({
      paks: ["/p/a.pak"],
      defaultRegistry: undefined,
      targets: none,
      install: true,
    });
    expect(inputs.install).toBeUndefined();
    expect(argvOfInputs(inputs)[0]).toBe("pull");
  });
});
