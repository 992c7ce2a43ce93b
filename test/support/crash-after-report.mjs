/**
 * A test-only crash, loaded into the binary with `NODE_OPTIONS=--import=<this file>` (never a
 * flag of mp-sideload, never read by src/): the first write to stdout that holds
 * MP_SIDELOAD_TEST_CRASH_ON throws, as a bug in the reporting code would, after the batch ran.
 */
import process from "node:process";

const marker = process.env.MP_SIDELOAD_TEST_CRASH_ON;
if (marker) {
  const write = process.stdout.write.bind(process.stdout);
  let crashed = false;
  process.stdout.write = (chunk, ...rest) => {
    if (!crashed && String(chunk).includes(marker)) {
      crashed = true;
      throw new TypeError("injected crash after the report");
    }
    return write(chunk, ...rest);
  };
}
