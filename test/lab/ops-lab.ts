/** The lab's VCF Operations simulator as the tests see it (scripts/lab/ops.sh, started by `scripts/lab.sh up`). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Lab } from "./lab.js";

export interface OpsLab {
  url: string;
  user: string;
  password: string;
  /** Maps the simulated cloud proxies' hostNames to the lab's proxies. */
  sshConfig: string;
  /** Environment for a run: the credentials and the lab's CA trusted. */
  env: Record<string, string>;
  stats(): Promise<Record<string, { acquired: number; released: number; refusedLogins: number }>>;
}

export function loadOpsLab(lab: Lab): OpsLab {
  const vars = Object.fromEntries(
    readFileSync(join(lab.dir, "ops/ops.env"), "utf8")
      .trim()
      .split("\n")
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  ) as Record<string, string>;
  const url = vars.MP_LAB_OPS_URL ?? "";
  const user = vars.MP_LAB_OPS_USER ?? "";
  const password = readFileSync(join(lab.dir, "secrets/ops-password"), "utf8").trim();
  return {
    url,
    user,
    password,
    sshConfig: vars.MP_LAB_OPS_SSH_CONFIG ?? "",
    env: { MP_SIDELOAD_OPS_USER: user, MP_SIDELOAD_OPS_PASSWORD: password, NODE_EXTRA_CA_CERTS: lab.caFile },
    stats: async () => {
      const { execFileSync } = await import("node:child_process");
      const text = execFileSync("curl", ["-sf", "--cacert", lab.caFile, `${url}/_sim/stats`], {
        encoding: "utf8",
      });
      return JSON.parse(text) as Record<
        string,
        { acquired: number; released: number; refusedLogins: number }
      >;
    },
  };
}
