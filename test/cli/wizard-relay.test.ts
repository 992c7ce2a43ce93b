/**
 * The wizard's relay question (issue 24): its answer becomes the same `relay` input that
 * `--relay auto` gives, the closing command carries the flag exactly when the run used it (read
 * back through the commands' own parsing, `relayArgv` included), the question is not asked for a
 * Docker Hub reference, and the answer is remembered as next time's default.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCommandArgs } from "../../src/cli/args.js";
import { argvOfInputs, equivalentCommand, relayAdvice } from "../../src/cli/closing-command.js";
import { installInputsOf, installOptions } from "../../src/cli/commands/install.js";
import { relayArgv, sideloadInputsOf, sideloadOptions } from "../../src/cli/commands/sideload-command.js";
import { opsConnectionFrom } from "../../src/cli/ops-options.js";
import type { prompts } from "../../src/cli/prompts.js";
import { askRelay, inputsOfAnswers } from "../../src/cli/wizard-answers.js";
import { recall, remember } from "../../src/cli/wizard-state.js";
import type { ErrorCode } from "../../src/errors.js";
import type { AdapterImage } from "../../src/pak/read-paks.js";
import type { RegistryPreflight } from "../../src/registry/preflight.js";
import type { ProxyResult } from "../../src/sideload/types.js";
import type { SideloadInputs } from "../../src/resolve/inputs.js";
import { captureTerminal } from "../support/terminal.js";

const none = { inventories: [], proxies: [], limit: [] };
const digest = `sha256:${"a".repeat(64)}`;
const image = (registry: string): AdapterImage => ({
  registry,
  repository: "/mp/lab-adapter",
  digest,
  reference: `${registry}/mp/lab-adapter@${digest}`,
  kind: "LabAdapter",
});

/** Only the one question askRelay asks: records it and answers `answer`. */
function answering(answer: boolean | "default") {
  const asked: { message: string; defaultValue: boolean }[] = [];
  const ask = {
    confirm: (message: string, defaultValue: boolean) => {
      asked.push({ message, defaultValue });
      return Promise.resolve(answer === "default" ? defaultValue : answer);
    },
  } as unknown as typeof prompts;
  return { ask, asked };
}

async function pullAgain(argv: string[]): Promise<SideloadInputs> {
  const [mode, ...rest] = argv;
  expect(mode).toBe("pull");
  const { terminal } = captureTerminal({ env: { HOME: tmpdir() } });
  const { values, positionals } = parseCommandArgs("pull", relayArgv(rest), sideloadOptions);
  return sideloadInputsOf("pull", values, positionals, terminal);
}

describe("the wizard's closing command with the relay", () => {
  const targets = { inventories: ["/p/inventory-isolated.yaml"], proxies: [], limit: ["iso-1"] };

  it("yes to the question: the inputs say relay auto, the command says --relay auto, and reads back to them", async () => {
    const inputs = inputsOfAnswers({
      paks: ["/p/a.pak"],
      defaultRegistry: undefined,
      targets,
      relay: "auto",
    });
    expect(inputs.relay).toBe("auto");
    const argv = argvOfInputs(inputs);
    expect(argv.join(" ")).toBe(
      "pull /p/a.pak --inventory /p/inventory-isolated.yaml --limit iso-1 --relay auto --yes",
    );
    const { stallTimeoutMs: _stall, ...again } = await pullAgain(argv);
    expect(JSON.parse(JSON.stringify(again))).toEqual(JSON.parse(JSON.stringify(inputs)));
    expect(equivalentCommand(inputs, []).at(-1)).toMatch(/ --relay auto --yes$/);
  });

  it("no to the question: no relay in the inputs, none in the command", async () => {
    const inputs = inputsOfAnswers({ paks: ["/p/a.pak"], defaultRegistry: undefined, targets });
    expect(inputs.relay).toBeUndefined();
    const argv = argvOfInputs(inputs);
    expect(argv).not.toContain("--relay");
    expect((await pullAgain(argv)).relay).toBeUndefined();
  });

  it("relay all (every proxy) is --relay alone, and is not read as taking the next word", async () => {
    const base = inputsOfAnswers({ paks: ["/p/a.pak"], defaultRegistry: undefined, targets });
    const inputs: SideloadInputs = { ...base, relay: "all" };
    const argv = argvOfInputs(inputs);
    expect(argv.slice(-2)).toEqual(["--relay", "--yes"]);
    const { stallTimeoutMs: _stall, ...again } = await pullAgain(argv);
    expect(JSON.parse(JSON.stringify(again))).toEqual(JSON.parse(JSON.stringify(inputs)));
  });

  it("with 'Install the pack now?': install --relay auto, read back through install's parsing", async () => {
    const { terminal } = captureTerminal({
      env: { MP_SIDELOAD_OPS_PASSWORD: "ops-pw-relay", HOME: tmpdir() },
    });
    const connection = await opsConnectionFrom("https://ops.example.com", { "ops-user": "admin" }, terminal);
    const ops = { ...none, ops: { connection, collectorGroups: ["east-group"] } };
    const inputs = inputsOfAnswers({
      paks: ["/p/a.pak"],
      defaultRegistry: undefined,
      targets: ops,
      install: true,
      relay: "auto",
    });
    const [command, ...rest] = argvOfInputs(inputs);
    expect(command).toBe("install");
    expect(rest.join(" ")).toContain("--relay auto");
    expect(rest.join(" ")).not.toContain("ops-pw-relay");
    const { values, positionals } = parseCommandArgs("install", relayArgv(rest), installOptions);
    const { stallTimeoutMs: _stall, ...again } = await installInputsOf(values, positionals, terminal);
    expect(JSON.parse(JSON.stringify(again))).toEqual(JSON.parse(JSON.stringify(inputs)));
  });
});

describe("the wizard's relay question", () => {
  it("is asked once, naming --relay auto, with no as the first default", async () => {
    const { ask, asked } = answering("default");
    expect(await askRelay([image("harbor.example.com:8443")], undefined, ask)).toBe(false);
    expect(asked).toEqual([
      {
        message:
          "If a proxy cannot reach the registry, carry the image through this machine's SSH connection (--relay auto)?",
        defaultValue: false,
      },
    ]);
  });

  it("takes the last run's answer as its default", async () => {
    const { ask, asked } = answering("default");
    expect(await askRelay([image("harbor.example.com:8443")], true, ask)).toBe(true);
    expect(asked[0]?.defaultValue).toBe(true);
  });

  it("is not asked when a reference is on Docker Hub, which the relay cannot carry", async () => {
    const { ask, asked } = answering(true);
    const images = [image("harbor.example.com:8443"), image("docker.io")];
    expect(await askRelay(images, true, ask)).toBeUndefined();
    expect(asked).toEqual([]);
  });
});

describe("the wizard's memory of the relay answer", () => {
  let dir: string;
  const env = () => ({ XDG_STATE_HOME: dir });
  const file = () => join(dir, "mp-sideload", "wizard.json");
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mp-sideload-wizard-state-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("remembers the answer with the inventory; a run that was not asked, or had no inventory, keeps the last", async () => {
    expect(await recall(env())).toEqual({});
    await remember(env(), { inventory: "/p/inventory.yaml", relay: true });
    expect(await recall(env())).toEqual({ inventory: "/p/inventory.yaml", relay: true });
    await remember(env(), { inventory: undefined, relay: false });
    expect(await recall(env())).toEqual({ inventory: "/p/inventory.yaml", relay: false });
    await remember(env(), { inventory: "/p/other.yaml", relay: undefined });
    expect(await recall(env())).toEqual({ inventory: "/p/other.yaml", relay: false });
    expect(JSON.parse(await readFile(file(), "utf8"))).toEqual({ inventory: "/p/other.yaml", relay: false });
  });

  it("an older state file (inventory only) and a field of the wrong type are read as far as they hold", async () => {
    await writeFile(file(), JSON.stringify({ inventory: "/p/old.yaml", relay: "yes" }));
    expect(await recall(env())).toEqual({ inventory: "/p/old.yaml" });
  });
});

describe("the wizard's advice after the relay question was answered no", () => {
  const registry = "registry.example.com:5000";
  const reference = `${registry}/mp/lab-adapter@${digest}`;
  const checked = (status: "ok" | "failed", code?: ErrorCode): RegistryPreflight[] => [
    {
      registry,
      credentialSource: "prompt",
      verdicts: [{ reference, registry, status, ...(code ? { error: { code, message: "no route" } } : {}) }],
    },
  ];
  const row = (name: string, status: ProxyResult["status"], code?: ErrorCode): ProxyResult => ({
    name,
    host: name,
    port: 22,
    status,
    reference,
    durationMs: 1,
    steps: [],
    ...(code ? { error: { code, message: `${name}: cannot reach ${registry}` } } : {}),
  });

  it("names the proxies that could not reach a registry this machine reaches, and both ways to carry it", () => {
    const rows = [
      row("iso-1", "failed", "REGISTRY_UNREACHABLE"),
      row("cp-1", "pulled"),
      row("iso-2", "failed", "REGISTRY_UNREACHABLE"),
    ];
    expect(relayAdvice(rows, checked("ok"))).toEqual([
      `iso-1, iso-2 could not reach ${registry}, which this machine reaches: answer yes to the relay question next time, or add --relay auto to the command above, to carry the image through this machine's SSH connection.`,
    ]);
  });

  it("says nothing when every proxy is fine, when another error failed them, or when this machine did not reach the registry either", () => {
    expect(relayAdvice([row("cp-1", "pulled")], checked("ok"))).toEqual([]);
    expect(relayAdvice([row("cp-1", "failed", "REGISTRY_UNAUTHORIZED")], checked("ok"))).toEqual([]);
    expect(
      relayAdvice(
        [row("iso-1", "failed", "REGISTRY_UNREACHABLE")],
        checked("failed", "REGISTRY_UNREACHABLE"),
      ),
    ).toEqual([]);
    expect(relayAdvice([row("iso-1", "failed", "REGISTRY_UNREACHABLE")], [])).toEqual([]);
  });

  it("shortens a long list of proxies, and prints hostile names escaped", () => {
    const rows = ["a", "b", "c", "d", "e\u001b[31m"].map((n) => row(n, "failed", "REGISTRY_UNREACHABLE"));
    const [line] = relayAdvice(rows, checked("ok"));
    expect(line).toMatch(/^a, b, c and 2 more could not reach /);
    expect(relayAdvice(rows.slice(4), checked("ok"))[0]).not.toContain("\u001b");
  });
});
