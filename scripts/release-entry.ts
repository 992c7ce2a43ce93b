/**
 * The release's entry point: what `bin/mp-sideload` does, in a form esbuild can bundle into one
 * file (ESM for `node`, CommonJS for the single executable, which has no top-level await).
 * Signals are watched before the rest of the program is evaluated, so that even an early Ctrl-C,
 * SIGTERM or SIGHUP ends the run cleanly with 128 + the signal's number. `main.js` is imported
 * dynamically so that esbuild wraps it (and what it imports) in a function run only here.
 */
import { watchSignals } from "../src/cli/terminal.js";

const signal = watchSignals();
void import("../src/cli/main.js").then(async ({ main, createTerminal }) => {
  process.exitCode = await main(process.argv.slice(2), createTerminal(signal));
});
