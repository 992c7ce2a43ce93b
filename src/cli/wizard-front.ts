/**
 * How the wizard meets its user inside the one pipeline (`sideload`'s front), before the batch:
 * the registries checked from this machine with a spinner (a mistyped password asked again,
 * three tries), every unknown host key at once (the proxies whose keys are declined are left out
 * of the run), the plan, then "now?". An ora spinner shows the work meanwhile.
 */
import { SideloadError } from "../errors.js";
import type { RegistryPreflight } from "../registry/preflight.js";
import { planOutline, planSideload } from "../plan/plan.js";
import type { SideloadFront } from "./commands/sideload-command.js";
import { confirmHostKeys } from "./host-keys.js";
import { renderPlan } from "./render/batch.js";
import { sshAuthPlanOf } from "./targets.js";
import type { Terminal } from "./terminal.js";

/** An ora spinner on stderr for one activity at a time; paused while a question is asked. */
export interface Spinner {
  during<T>(text: string, work: () => Promise<T>): Promise<T>;
  /** Run `question` with the spinner stopped, then start it again. */
  paused<T>(question: () => Promise<T>): Promise<T>;
}

/** The wizard's front; `registries` is filled with the registries' verdicts once they are in. */
export function wizardFront(spinner: Spinner, registries: RegistryPreflight[]): SideloadFront {
  return {
    promptTries: 3,
    // A question first stops the spinner, so that the two never fight for the line.
    around: (question) => spinner.paused(question),
    async beforeBatch({ resolved, job, gate, ask, terminal, inputs }) {
      const say = (text: string) => terminal.out(`${text}\n`);
      const checked = gate
        ? await spinner.during("Checking the registry from this machine", () => gate.settleAll())
        : [];
      registries.push(...checked);
      say("");
      for (const line of describeRegistries(checked)) say(line);
      const verdicts = checked.flatMap((r) => r.verdicts);
      if (verdicts.length > 0 && verdicts.every((v) => v.status === "public")) {
        say("\npublic: the proxies can pull these images anonymously at install time; no sideload needed.");
        return { notNeeded: checked };
      }
      const { knownHostsFile } = resolved;
      const { proxies } = await confirmHostKeys(
        resolved.proxies,
        knownHostsFile,
        ask,
        terminal,
        (text, work) => spinner.during(text, work),
      );
      if (proxies.length === 0)
        throw new SideloadError("HOSTKEY_UNKNOWN", "no proxy with a trusted host key is left", {
          hint: "trust the keys after checking them out of band, or add them with ssh-keyscan",
        });
      const plan = planSideload(proxies, job, knownHostsFile, await sshAuthPlanOf(inputs.ssh, terminal));
      say("");
      terminal.out(
        renderPlan("pull", plan, {
          heading: "The plan (nothing has been done yet):",
          outline: planOutline(job, knownHostsFile),
          references: job.images.map((i) => i.reference),
        }),
      );
      const onto = `onto ${plan.length} prox${plan.length === 1 ? "y" : "ies"}`;
      const then = inputs.install ? ", then install the pack into VCF Operations," : "";
      const now = await ask.confirm(`Pull ${onto}${then} now?`, true);
      if (now) return proxies;
      say("nothing done");
      return "declined";
    },
  };
}

function describeRegistries(registries: RegistryPreflight[]): string[] {
  return registries.map((r) => {
    const verdict = r.verdicts.find((v) => v.status === "failed") ?? r.verdicts[0];
    const check =
      verdict === undefined
        ? "not checked"
        : verdict.status === "failed"
          ? `${verdict.error?.code ?? "failed"}: ${verdict.error?.message ?? ""}`
          : verdict.status === "public"
            ? "public (anonymous pulls work)"
            : "ok: the credentials are accepted and the image is there";
    return `registry ${r.registry}: credentials from ${r.credentialSource}; ${check}`;
  });
}

/** The spinner of a terminal run (ora, loaded only here). */
export async function spinnerFor(terminal: Terminal): Promise<Spinner> {
  const { default: ora } = await import("ora");
  let current: ReturnType<typeof ora> | undefined;
  return {
    async during(text, work) {
      current = ora({
        text,
        stream: process.stderr,
        color: terminal.color ? "cyan" : false,
        isEnabled: terminal.interactive,
      }).start();
      try {
        const value = await work();
        current.succeed();
        return value;
      } catch (error) {
        // Esc or Ctrl-C at a question asked meanwhile is the user leaving, not the check failing.
        if (error instanceof SideloadError && error.code === "INTERRUPTED") current.stop();
        else current.fail();
        throw error;
      } finally {
        current = undefined;
      }
    },
    async paused(question) {
      const active = current;
      active?.stop();
      try {
        return await question();
      } finally {
        active?.start();
      }
    },
  };
}
