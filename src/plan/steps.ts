/**
 * The steps a `pull` or `verify` runs on each proxy, in the order they run, for a job: the
 * runner (sideload-proxy.ts) runs exactly this list and the dry run (plan.ts) describes exactly
 * this list, so the plan cannot tell of a step that does not run or leave one out.
 */
import type { SideloadJob } from "../sideload/types.js";

/** The steps run for each image, in order; `present` ends an image that is there already. */
export type ImageStep = "present" | "login" | "relay" | "pull" | "verify";

export interface SideloadSteps {
  /** Once per proxy, first: the session (the frame's steps). */
  open: readonly ["connect", "engine"];
  /**
   * For each image of the proxy. `login` installs the registry CA first when asked (once per
   * registry); with `--relay`, `relay` (its set-up on the proxy) instead of `login`.
   */
  image: readonly ImageStep[];
  /** Once per proxy, once every image is there: `pull --prune`. */
  after: readonly "prune"[];
}

/** The steps of `job` on a proxy. */
export function sideloadSteps(job: Pick<SideloadJob, "mode" | "prune" | "relay">): SideloadSteps {
  const access = job.relay?.mode === "all" ? "relay" : "login";
  return {
    open: ["connect", "engine"],
    image: job.mode === "verify" ? ["present"] : ["present", access, "pull", "verify"],
    after: job.mode === "pull" && job.prune !== undefined ? ["prune"] : [],
  };
}
