import { describe, expect, it } from "vitest";
import { abortable } from "../src/abortable.js";
import { scrubControls, interruptedStatus, signalReason } from "../src/cli/terminal.js";
import { hostPort, oneLine, printable, quote } from "../src/errors.js";

describe("printable", () => {
  it.each([
    ["ev\u001b[2J\u001b[31mil", "ev\\u001b[2J\\u001b[31mil"],
    ["a\nFAKE LINE", "a\\u000aFAKE LINE"],
    ["csi\u009b1m", "csi\\u009b1m"],
    ["bidi\u202eevil", "bidi\\u202eevil"],
    ["plain cp-east-1.example.com", "plain cp-east-1.example.com"],
    ["ünïcode ok", "ünïcode ok"],
  ])("%j → %j", (input, output) => {
    expect(printable(input)).toBe(output);
  });

  it("oneLine and quote never let a control character through", () => {
    for (const text of [oneLine("x\u001b[2J\ny\u009bz"), quote("x\u001b\u009b\u202e")]) {
      // eslint-disable-next-line no-control-regex
      expect(text).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/);
    }
  });
});

describe("scrubControls (the terminal's last line of defence)", () => {
  it("keeps newlines and tabs, escapes the rest, and keeps JSON exact", () => {
    const doc = JSON.stringify({ name: "a\u009bb\u202ec\u001bd" });
    const scrubbed = scrubControls(`${doc}\n\tok\r`);
    // eslint-disable-next-line no-control-regex
    expect(scrubbed).not.toMatch(/[\u001b\u009b\u202e\r]/);
    expect(scrubbed.endsWith("\n\tok\\u000d")).toBe(true);
    expect((JSON.parse(scrubbed.split("\n")[0] ?? "") as { name: string }).name).toBe(
      "a\u009bb\u202ec\u001bd",
    );
  });
});

describe("hostPort", () => {
  it.each([
    ["10.0.0.5", 22, "10.0.0.5:22"],
    ["::1", 43201, "[::1]:43201"],
    ["cp-1.example.com", 2222, "cp-1.example.com:2222"],
  ])("%s %i → %s", (host, port, text) => {
    expect(hostPort(host, port)).toBe(text);
  });
});

describe("signals", () => {
  it.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ] as const)("%s aborts with exit status %i", (name, status) => {
    const controller = new AbortController();
    expect(interruptedStatus(controller.signal)).toBeUndefined();
    controller.abort(signalReason(name));
    expect(interruptedStatus(controller.signal)).toBe(status);
  });
});

describe("abortable", () => {
  it("releases the caller when the signal aborts, whatever the work does", async () => {
    const controller = new AbortController();
    const never = new Promise<never>(() => undefined);
    const waiting = abortable(never, controller.signal);
    controller.abort(new Error("deadline"));
    await expect(waiting).rejects.toThrow("deadline");
  });
  it("passes the work's value and error through when not aborted", async () => {
    const signal = new AbortController().signal;
    await expect(abortable(Promise.resolve(7), signal)).resolves.toBe(7);
    await expect(abortable(Promise.reject(new Error("boom")), signal)).rejects.toThrow("boom");
  });
  it("rejects at once when already aborted, without an unhandled rejection from the work", async () => {
    const controller = new AbortController();
    controller.abort(new Error("already"));
    await expect(abortable(Promise.reject(new Error("late")), controller.signal)).rejects.toThrow("already");
  });
});
