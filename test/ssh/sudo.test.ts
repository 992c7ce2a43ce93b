/**
 * become through sudo: the command lines built (no secret in any), sudo's refusals read from
 * its stderr, and how a connection's sudo is established (NOPASSWD, a password checked once, a
 * wrong or missing one as BECOME_FAILED) over a fake connection that records what it was asked.
 * The real sudo is the lab's (test/lab/become.test.ts).
 */
import { PassThrough, type Duplex } from "node:stream";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { SshEngineAgent } from "../../src/engine/ssh-agent.js";
import type { SshConnection } from "../../src/ssh/connect.js";
import {
  establishSudo,
  shellQuote,
  sudoCommand,
  sudoPreamble,
  sudoRefusal,
  type SudoAccess,
} from "../../src/ssh/sudo.js";
import { SideloadError } from "../../src/errors.js";

const secret = "s3cret-sudo-pw";

describe("sudo command lines", () => {
  it.each<[SudoAccess, string, string]>([
    [{ user: "root", mode: "nopasswd" }, "sudo -n -u 'root' -- true", ""],
    [
      { user: "root", mode: "password", password: secret },
      "sudo -S -k -p '' -u 'root' -- true",
      `${secret}\n`,
    ],
  ])("%j: %s, stdin first %j", (access, command, preamble) => {
    expect(sudoCommand(access, "true")).toBe(command);
    expect(sudoCommand(access, "true")).not.toContain(secret);
    expect(sudoPreamble(access)).toBe(preamble);
  });

  it("quotes a word for the shell, quotes inside included", () => {
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});

describe("sudoRefusal", () => {
  it.each([
    ["sudo: 1 incorrect password attempt\n", "refused the sudo password"],
    ["Sorry, try again.\nsudo: 3 incorrect password attempts", "refused the sudo password"],
    ["sudo: a password is required\n", "wants a password"],
    ["mpadmin is not in the sudoers file.  This incident will be reported.", "does not allow it"],
    ["Sorry, user mpadmin is not allowed to execute '/usr/bin/true' as root", "does not allow it"],
    ["sudo: sorry, you must have a tty to run sudo", "wants a terminal (requiretty)"],
    ["sh: 1: sudo: not found", "has no sudo"],
    ["bash: sudo: command not found", "has no sudo"],
    ["sudo: docker: command not found", undefined],
    ["Cannot connect to the Docker daemon", undefined],
  ])("%j → %s", (stderr, why) => {
    expect(sudoRefusal(stderr)).toBe(why);
  });
});

/** A connection whose `exec` answers from a script and records each command with its stdin. */
function fakeConnection(answers: { code: number; stderr?: string }[]) {
  const calls: { command: string; stdin: string | undefined }[] = [];
  const channels: { command: string; written: Buffer[] }[] = [];
  const connection = {
    exec: (command: string, stdin?: string) => {
      calls.push({ command, stdin });
      const answer = answers.shift() ?? { code: 0 };
      return Promise.resolve({ stdout: "", stderr: answer.stderr ?? "", code: answer.code });
    },
    execStream: (command: string): Promise<Duplex> => {
      const written: Buffer[] = [];
      channels.push({ command, written });
      const channel = new PassThrough();
      const write = channel.write.bind(channel);
      channel.write = ((chunk: Buffer | string, ...rest: never[]) => {
        written.push(Buffer.from(chunk));
        return write(chunk, ...rest);
      }) as typeof channel.write;
      return Promise.resolve(channel);
    },
    forwardToSocket: () => Promise.reject(new Error("must not be used with become")),
    closed: false,
  } as unknown as SshConnection;
  return { connection, calls, channels };
}

const context = { where: "cp-1 (10.0.0.5:22)", sshUser: "mpsudo" };

describe("establishSudo", () => {
  it("NOPASSWD: one `sudo -n true`, no password sent or asked", async () => {
    const { connection, calls } = fakeConnection([{ code: 0 }]);
    let asked = false;
    const access = await establishSudo(
      connection,
      { user: "root", password: secret, askPassword: () => ((asked = true), Promise.resolve("x")) },
      context,
    );
    expect(access).toEqual({ user: "root", mode: "nopasswd" });
    expect(calls).toEqual([{ command: "sudo -n -u 'root' -- true", stdin: undefined }]);
    expect(asked).toBe(false);
  });

  it("a password: checked once with sudo -S -k, on stdin only", async () => {
    const { connection, calls } = fakeConnection([
      { code: 1, stderr: "sudo: a password is required\n" },
      { code: 0 },
    ]);
    const access = await establishSudo(connection, { user: "root", password: secret }, context);
    expect(access).toEqual({ user: "root", mode: "password", password: secret });
    expect(calls[1]).toEqual({ command: "sudo -S -k -p '' -u 'root' -- true", stdin: `${secret}\n` });
    expect(calls.map((c) => c.command).join(" ")).not.toContain(secret);
  });

  it("asks for the password only when sudo wants one and none is known", async () => {
    const { connection, calls } = fakeConnection([
      { code: 1, stderr: "sudo: a password is required\n" },
      { code: 0 },
    ]);
    const access = await establishSudo(
      connection,
      { user: "app", askPassword: () => Promise.resolve(secret) },
      context,
    );
    expect(access.mode).toBe("password");
    expect(calls[1]?.stdin).toBe(`${secret}\n`);
  });

  it.each([
    [
      "a wrong password",
      [
        { code: 1, stderr: "sudo: a password is required" },
        { code: 1, stderr: "sudo: 1 incorrect password attempt" },
      ],
      secret,
      /refused the sudo password.*incorrect password attempt/,
    ],
    [
      "no password at all",
      [{ code: 1, stderr: "sudo: a password is required" }],
      undefined,
      /wants a password.*none was given/,
    ],
    [
      "a user sudo does not allow",
      [{ code: 1, stderr: "mpadmin is not in the sudoers file." }],
      secret,
      /does not allow it/,
    ],
  ])("%s is BECOME_FAILED naming the proxy, exit status 1", async (_case, answers, password, message) => {
    const { connection } = fakeConnection(answers);
    const error = await establishSudo(connection, { user: "root", password }, context).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SideloadError);
    expect(error).toMatchObject({ code: "BECOME_FAILED", exitStatus: 1 });
    expect((error as Error).message).toMatch(/^cp-1 \(10\.0\.0\.5:22\): sudo /);
    expect((error as Error).message).toMatch(message);
    expect((error as SideloadError).hint).toBeTruthy();
  });
});

describe("the engine agent with become", () => {
  it("opens every channel as sudo'd dial-stdio, the password line first on each", async () => {
    const { connection, channels } = fakeConnection([]);
    const agent = new SshEngineAgent(connection, "/var/run/docker.sock", "stream-local", undefined, {
      user: "root",
      mode: "password",
      password: secret,
    });
    const open = () =>
      new Promise<Duplex>((resolve, reject) =>
        agent.createConnection({}, (error, socket) => (error ? reject(error) : resolve(socket as Duplex))),
      );
    const sockets = await Promise.all([open(), open(), open()]);
    expect(agent.via).toBe("dial-stdio");
    expect(channels.map((c) => c.command)).toEqual(
      Array(3).fill("sudo -S -k -p '' -u 'root' -- docker system dial-stdio"),
    );
    for (const channel of channels) expect(Buffer.concat(channel.written).toString()).toBe(`${secret}\n`);
    sockets[0]?.write("GET /version HTTP/1.1\r\n");
    expect(Buffer.concat(channels[0]?.written ?? []).toString()).toBe(`${secret}\nGET /version HTTP/1.1\r\n`);
    agent.destroy();
  });

  it("formats itself in a few words: no connection, no sudo password (docker-modem inspects each request's options)", () => {
    const { connection } = fakeConnection([]);
    const agent = new SshEngineAgent(connection, "/var/run/docker.sock", undefined, undefined, {
      user: "root",
      mode: "password",
      password: secret,
    });
    // What docker-modem's buildRequest formats before every request, debug output on or off.
    const formatted = inspect({ path: "/images/create", agent }, { showHidden: true, depth: null });
    expect(formatted).toContain("SshEngineAgent { transport: dial-stdio }");
    expect(formatted).not.toContain(secret);
    expect(formatted.length).toBeLessThan(200);
    agent.destroy();
  });

  it("NOPASSWD: sudo -n, nothing written before the HTTP bytes", async () => {
    const { connection, channels } = fakeConnection([]);
    const agent = new SshEngineAgent(connection, "/x.sock", undefined, "unix:///x.sock", {
      user: "root",
      mode: "nopasswd",
    });
    await new Promise((resolve, reject) =>
      agent.createConnection({}, (error, socket) => (error ? reject(error) : resolve(socket))),
    );
    expect(channels[0]?.command).toBe("sudo -n -u 'root' -- docker -H 'unix:///x.sock' system dial-stdio");
    expect(channels[0]?.written).toEqual([]);
    agent.destroy();
  });
});
