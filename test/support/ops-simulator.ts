/**
 * The Suite API simulator (scripts/ops-simulator.ts) in-process for unit tests: a throwaway CA
 * and server certificate for 127.0.0.1 made with openssl, and the lab's scenario file.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startOpsSimulator, type OpsSimulator, type SimScenario } from "../../scripts/ops-simulator.js";

export const labScenarioFile = join(import.meta.dirname, "../ops/lab-scenario.json");

export interface TestOps extends OpsSimulator {
  /** PEM of the CA that signed the simulator's certificate. */
  ca: string;
  caFile: string;
  user: string;
  password: string;
  stop(): Promise<void>;
}

/** Start a simulator over the lab's scenario (or `scenario`), with its own CA. */
export async function startTestOps(scenario?: SimScenario): Promise<TestOps> {
  const dir = mkdtempSync(join(tmpdir(), "ops-sim-"));
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  ssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=ops test CA",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
  );
  ssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=127.0.0.1",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
  );
  writeFileSync(
    join(dir, "ext.cnf"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
  );
  ssl(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
    "-out",
    "server.crt",
  );
  const password = "sim-Pa55word-7f3a9c";
  const chosen = scenario ?? (JSON.parse(readFileSync(labScenarioFile, "utf8")) as SimScenario);
  const sim = await startOpsSimulator({
    scenario: chosen,
    password,
    cert: readFileSync(join(dir, "server.crt"), "utf8"),
    key: readFileSync(join(dir, "server.key"), "utf8"),
  });
  return {
    ...sim,
    ca: readFileSync(join(dir, "ca.crt"), "utf8"),
    caFile: join(dir, "ca.crt"),
    user: chosen.user,
    password,
    stop: async () => {
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
