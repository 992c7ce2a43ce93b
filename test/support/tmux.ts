import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * A tmux server of the test's own (its socket named after the test and this process), with one
 * session `session` in it: a real terminal to run the binary in, typed at and read from.
 */
export function tmuxTerminal(name: string, session: string) {
  const socket = `mpsl-${name}-${process.pid}`;
  const tmux = (...args: string[]) => run("tmux", ["-L", socket, ...args]);
  /** The screen as shown (wrapped lines joined); with escapes, colours included. */
  const screen = async (escapes = false) =>
    (await tmux("capture-pane", "-p", "-J", ...(escapes ? ["-e"] : []), "-t", session)).stdout;
  return {
    tmux,
    screen,
    /** Wait until the screen matches `pattern`; the screen is in the error if it never does. */
    waitForScreen: async (pattern: RegExp, timeoutMs = 30_000): Promise<string> => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const text = await screen();
        if (pattern.test(text)) return text;
        if (Date.now() > until) throw new Error(`the screen never showed ${pattern}:\n${text}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    keys: (...keys: string[]) => tmux("send-keys", "-t", session, ...keys),
    start: (script: string, columns = 200, rows = 50) =>
      tmux("new-session", "-d", "-s", session, "-x", String(columns), "-y", String(rows), script),
    stop: () => tmux("kill-session", "-t", session).catch(() => undefined),
    shutdown: () => tmux("kill-server").catch(() => undefined),
  };
}
