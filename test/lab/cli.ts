import { spawn } from "node:child_process";
import { bin } from "./lab.js";

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time of the run. */
  ms: number;
  /** With `signal`: the time from sending it to the exit. */
  signalledAt?: number;
}

/**
 * Run the built `mp-sideload` binary with a clean environment (only PATH, HOME and what the
 * test passes): what a pipeline would do. CI is set, so it never prompts. With `signal`, that
 * signal is sent after `afterMs`. A run still going after 120 s is killed: a hang is a test
 * failure, not a hung suite.
 */
export function runCli(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string; signal?: NodeJS.Signals; afterMs?: number } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let signalledAt: number | undefined;
    const child = spawn(bin, args, {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? "/root",
        CI: "true",
        ...options.env,
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    const timer =
      options.signal === undefined
        ? undefined
        : setTimeout(() => {
            signalledAt = Date.now();
            child.kill(options.signal);
          }, options.afterMs ?? 1000);
    const guard = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      clearTimeout(guard);
      const end = Date.now();
      resolve({
        code,
        stdout,
        stderr,
        ms: end - started,
        ...(signalledAt === undefined ? {} : { signalledAt: end - signalledAt }),
      });
    });
    child.stdin.on("error", () => undefined); // a run that exits before it reads its input
    child.stdin.end(options.stdin ?? "");
  });
}

export interface JsonReport {
  command: string;
  references: string[];
  proxies: {
    name: string;
    host: string;
    port: number;
    status: string;
    reference: string;
    durationMs: number;
    transport?: string;
    engine?: string;
    failedStep?: string;
    attempts?: number;
    registryCa?: string;
    steps: { step: string; durationMs: number }[];
    error?: { code: string; message: string; hint?: string };
  }[];
  summary: { ok: number; failed: number; total: number };
}

export function parseReport(run: CliRun): JsonReport {
  try {
    return JSON.parse(run.stdout) as JsonReport;
  } catch {
    throw new Error(
      `stdout is not one JSON document (exit ${run.code}):\n${run.stdout}\nstderr:\n${run.stderr}`,
    );
  }
}
