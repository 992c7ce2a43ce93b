/**
 * `doctor`: the readiness of each proxy, changing nothing. Same proxies, concurrency, --limit,
 * --report and Ctrl-C behaviour as `pull`.
 */
import { SideloadError, oneLine, printable } from "../../errors.js";
import { checkWritableOutput } from "../../files.js";
import { writeOutputs } from "../render/outputs.js";
import { checkIdentityFiles } from "../../ssh/connect.js";
import { runDoctor, type DoctorReport, type DoctorRow } from "../../doctor/doctor.js";
import type { OpsGroup } from "../../ops/resolve.js";
import { coverageOf, renderCoverageLines, type Coverage } from "../../coverage/coverage.js";
import { preflightRegistries } from "../../registry/preflight.js";
import type { AdapterImage } from "../../sideload/types.js";
import { intOption, parseCommandArgs } from "../args.js";
import { renderDoctorJunit } from "../render/junit.js";
import { credentialOptionSpecs, credentialResolver } from "../credential-options.js";
import { readPaks } from "../../pak/read-paks.js";
import { knownHostsFileOf } from "../../resolve/resolve-inputs.js";
import { readCaOption } from "../../registry/ca-file.js";
import { commandProxies, proxyCommandOptionSpecs, sshConnectSetup, targetOptionsHelp } from "../targets.js";
import type { CommandContext, CommandResult } from "../results.js";
import type { Terminal } from "../terminal.js";
import { confirmHostKeys } from "../host-keys.js";
import { LiveBoard, stepText, stepWords, type FinishedLine } from "../render/live-board.js";
import { debugLine } from "../render/batch.js";
import { stderrBoard } from "./sideload-command.js";
import type { Proxy } from "../../inventory/proxy.js";
import { runDefaults, type SshInputs } from "../../resolve/inputs.js";
import type { DoctorDeps } from "../../doctor/doctor.js";
import type { StepName } from "../../session/events.js";

const options = {
  ...proxyCommandOptionSpecs,
  pak: { type: "string", multiple: true },
  "registry-ca": { type: "string" },
  ...credentialOptionSpecs,
} as const;

const help = `Usage: mp-sideload doctor (--proxy [user@]host[:port] ... | --inventory FILE) [--pak PAK] [options]

Check that each cloud proxy is ready for a sideload, changing nothing: SSH (host key, auth
method), the Docker Engine (version, transport, and whether the other transport works), free
disk space under the engine's data root, the clock; with --pak, each image present or not, the
registry reached and trusted from the proxy (POST /auth with credentials when some source has
them, anonymously otherwise), and /etc/docker/certs.d/<REGISTRY>/ca.crt against --registry-ca.

${targetOptionsHelp}  --pak PAK                   also check the pak's images and registries (repeatable; or a folder)
  --default-registry HOST     the proxies' default registry, for a pak that names none
  --registry-ca FILE          compare each proxy's CA for the registry with this PEM file
  --registry-user … (as pull) credentials for the registry check; never asked for
Run:
  --concurrency N             proxies at once (default ${runDefaults.concurrency})
  --timeout SECONDS           per proxy (default ${runDefaults.doctorTimeoutSeconds})
  --json                      one JSON document on stdout (every check of every proxy)
  --report FILE               also write the JSON document to FILE
  --junit FILE                also write a JUnit XML report to FILE (a test case per proxy and check)
  --debug                     stack traces on errors
Exit status: 0 no check fails (warnings allowed), 1 a check fails on a proxy, 2 usage or input error,
130/143/129 interrupted.
`;

export async function run({ argv, terminal }: CommandContext): Promise<CommandResult> {
  const { values, positionals } = parseCommandArgs("doctor", argv, options);
  if (values.help) {
    terminal.out(help);
    return { kind: "shown" };
  }
  if (positionals.length > 0) {
    throw new SideloadError(
      "USAGE",
      `doctor takes no positional argument (got ${JSON.stringify(positionals[0])}); give the pak as --pak PAK`,
      { hint: "run 'mp-sideload doctor --help'" },
    );
  }
  const concurrency = intOption("concurrency", values.concurrency, runDefaults.concurrency, 1, 256);
  const timeoutS = intOption("timeout", values.timeout, runDefaults.doctorTimeoutSeconds, 1, 86_400);
  const sshUser = values["ssh-user"] ?? "root";
  // Before any proxy is touched: a report that cannot be written would lose the results.
  if (values.report !== undefined) await checkWritableOutput(values.report, "--report");
  if (values.junit !== undefined) await checkWritableOutput(values.junit, "--junit");
  const images: AdapterImage[] =
    values.pak === undefined ? [] : (await readPaks(values.pak, values["default-registry"])).images;
  const registryCa =
    values["registry-ca"] === undefined ? undefined : await readCaOption(values["registry-ca"]);
  const debug = values.debug ? (message: string) => terminal.err(`debug: ${message}\n`) : undefined;
  const { proxies, groups, ssh: sshInputs } = await commandProxies(values, images, terminal, debug);

  // Credentials and the image's size, from this machine, never asked for: doctor is for pipelines too.
  const resolver = await credentialResolver(values, { ...terminal, interactive: false });
  const registries = await preflightRegistries(images, resolver, {
    ca: registryCa,
    env: terminal.env,
    signal: terminal.signal,
    prompt: false,
  });
  const sizes = registries.flatMap((r) => r.verdicts.map((v) => v.size ?? 0));
  const board = await doctorTerminal(proxies, sshInputs, terminal, values.json || values.debug);
  const debugEvents: Pick<DoctorDeps, "onEvent"> = values.debug
    ? { onEvent: (event) => terminal.err(debugLine(event)) }
    : {};
  const ssh = await sshConnectSetup(sshInputs, sshUser, terminal, {
    askHostKeys: board === undefined,
    around: (question) => board?.board.paused(question) ?? question(),
  });
  let report;
  try {
    await checkIdentityFiles(proxies, ssh.connect.auth, ssh.run);
    board?.board.start(proxies.length);
    report = await runDoctor(
      proxies,
      {
        images,
        auth: (registry) => registries.find((r) => r.registry === registry)?.auth,
        reachedFromHere: (registry) => {
          const verdicts = registries.find((r) => r.registry === registry)?.verdicts ?? [];
          const unreachable = ["REGISTRY_UNREACHABLE", "REGISTRY_UNTRUSTED_CA"];
          return verdicts.length > 0 && verdicts.every((v) => !unreachable.includes(v.error?.code ?? ""));
        },
        imageBytes: sizes.length > 0 && sizes.every((s) => s > 0) ? Math.max(...sizes) : undefined,
        registryCa,
        timeoutMs: timeoutS * 1000,
      },
      {
        concurrency,
        knownHosts: ssh.knownHosts,
        connect: ssh.connect,
        signal: terminal.signal,
        ...(board?.events ?? debugEvents),
      },
    );
  } finally {
    board?.board.stop();
    ssh.close();
  }
  const coverage = groups.length === 0 || images.length === 0 ? undefined : doctorCoverage(report, groups);
  const document = `${JSON.stringify(coverage ? { ...report, coverage } : report, null, 2)}\n`;
  const lines = coverage ? ["", ...renderCoverageLines(coverage, printable)].map((l) => `${l}\n`) : [];
  const human = renderDoctorHuman(report) + lines.join("");
  await writeOutputs(terminal, values, { json: document, human, junit: () => renderDoctorJunit(report) });
  return { kind: "doctored", failedChecks: report.summary.fail };
}

/**
 * At a terminal (and not --json or --debug): every unknown host key asked about at once, up
 * front, then the live board, fed by doctor's events. Undefined elsewhere: plain output only.
 */
async function doctorTerminal(
  proxies: Proxy[],
  ssh: SshInputs,
  terminal: Terminal,
  quiet: boolean | undefined,
): Promise<{ board: LiveBoard<DoctorRow>; events: Pick<DoctorDeps, "onEvent"> } | undefined> {
  if (!terminal.interactive || quiet) return undefined;
  const ask = (await import("../prompts.js")).prompts;
  await confirmHostKeys(proxies, knownHostsFileOf(ssh.knownHostsFile, terminal.env), ask, terminal);
  const board = new LiveBoard(stderrBoard(terminal), doctorFinished);
  return { board, events: { onEvent: board.onEvent } };
}

/** A doctor proxy on the board: its worst verdict, its time, which checks did not pass. */
const doctorFinished: FinishedLine<DoctorRow> = (_proxy, row) => ({
  ok: row.verdict !== "fail",
  line: `${printable(row.name)}  ${(row.durationMs / 1000).toFixed(1)}s  ${summaryOf(row)}`,
});

/** A running check in words (never its result): the board's words for the check's step. */
export function checkWords(check: string): string {
  const [what = "", ...rest] = check.split(" ");
  const step = what === "ssh" ? "connect" : what;
  if (!(step in stepWords) || step === "starting") return `checking ${printable(check)}`;
  return stepText(step as StepName, { registry: rest.join(" ") });
}

/** Per collector group: the members whose image checks found every image present. */
function doctorCoverage(report: DoctorReport, groups: OpsGroup[]): Coverage {
  const rows = report.proxies.flatMap((r) =>
    report.references.map((reference) => ({
      name: r.name,
      host: r.host,
      port: r.port,
      reference,
      durationMs: r.durationMs,
      steps: [],
      status: r.checks.some((c) => c.check === `image ${reference}` && c.detail === "present")
        ? ("present" as const)
        : ("missing" as const),
    })),
  );
  return coverageOf(groups, rows, report.references);
}

const marks = { pass: "ok", warn: "WARN", fail: "FAIL" };

/** `8 checks pass`, or `6 of 8 pass; warn: disk; fail: registry r REGISTRY_UNAUTHORIZED`: never a warning hidden. */
export function summaryOf(r: DoctorRow): string {
  const bad = r.checks.filter((c) => c.verdict !== "pass");
  if (bad.length === 0) return `${r.checks.length} checks pass`;
  const named = (verdict: "warn" | "fail") => {
    const these = bad.filter((c) => c.verdict === verdict);
    return these.length === 0
      ? []
      : [`${verdict}: ${these.map((c) => `${printable(c.check)}${c.code ? ` ${c.code}` : ""}`).join(", ")}`];
  };
  return [
    `${r.checks.length - bad.length} of ${r.checks.length} pass`,
    ...named("fail"),
    ...named("warn"),
  ].join("; ");
}

/** One line per proxy with its worst verdict, then every check that did not pass, with hints. */
export function renderDoctorHuman(report: DoctorReport): string {
  const names = report.proxies.map((r) => printable(r.name));
  const width = names.reduce((w, n) => Math.max(w, n.length), 5);
  const lines = report.proxies.map(
    (r, i) => `${marks[r.verdict].padEnd(5)} ${(names[i] ?? "").padEnd(width)}  ${summaryOf(r)}`,
  );
  const details = report.proxies.flatMap((r, i) =>
    r.checks
      .filter((c) => c.verdict !== "pass")
      .map(
        (c) =>
          `${names[i] ?? ""} ${c.check}: ${c.verdict}${c.code ? ` ${c.code}` : ""}: ${oneLine(c.detail)}${c.hint ? `\n  hint: ${oneLine(c.hint)}` : ""}`,
      ),
  );
  const { pass, warn, fail, total } = report.summary;
  return `doctor\n${lines.join("\n")}\n${details.length > 0 ? `\n${details.join("\n")}\n\n` : ""}${pass} ready, ${warn} with warnings, ${fail} failing, ${total} in all\n`;
}
