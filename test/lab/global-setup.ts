/**
 * Brings the lab up before the end-to-end suites and down after them. A lab that cannot start
 * fails the run (with the logs of the part that failed): the suites are never skipped.
 * A down that fails fails the run too. MP_LAB_KEEP=1 leaves it running afterwards, for quicker
 * runs while developing.
 */
import { spawnSync } from "node:child_process";
import { labScript } from "./lab.js";

export default function setup(): () => void {
  const started = Date.now();
  const up = spawnSync("bash", [labScript, "up", process.env.MP_LAB_SIZE ?? "3"], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (up.status !== 0) {
    spawnSync("bash", [labScript, "logs"], { stdio: ["ignore", "inherit", "inherit"] });
    throw new Error(`the lab did not start (scripts/lab.sh up exited ${up.status}); see its logs above`);
  }
  console.error(`lab: ready in ${Date.now() - started} ms`);
  return () => {
    if (process.env.MP_LAB_KEEP === "1") return;
    // A down that stops half-way leaves this machine changed (hosts line, reserved ports): a failure.
    const down = spawnSync("bash", [labScript, "down"], { stdio: ["ignore", "inherit", "inherit"] });
    if (down.status !== 0)
      throw new Error(`the lab did not come down (scripts/lab.sh down exited ${down.status})`);
  };
}
