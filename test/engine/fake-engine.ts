/**
 * An in-process fake Docker Engine on a unix socket, and a fake SSH connection whose
 * stream-local channels are plain connections to it: the Engine class runs unchanged over them
 * (dockerode, the agent, the caps), without sshd or dockerd. For faults the real parts cannot
 * give on demand (an endless line, an oversized answer, a stall, a full disk); the lab tests
 * cover the real engine.
 */
import http from "node:http";
import net from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import type { SshConnection } from "../../src/ssh/connect.js";

export interface FakeEngine {
  socket: string;
  /** Every request the engine saw, with its headers. */
  requests: http.IncomingMessage[];
  /** Connections the engine has open now. */
  open: Set<net.Socket>;
  close(): Promise<void>;
}

export async function startFakeEngine(handler: http.RequestListener): Promise<FakeEngine> {
  const dir = await mkdtemp(join(tmpdir(), "mp-fake-engine-"));
  const socket = join(dir, "docker.sock");
  const requests: http.IncomingMessage[] = [];
  const open = new Set<net.Socket>();
  const server = http.createServer((request, response) => {
    requests.push(request);
    handler(request, response);
  });
  server.on("connection", (c: net.Socket) => {
    open.add(c);
    c.on("close", () => open.delete(c));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    socket,
    requests,
    open,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * An SshConnection whose channels are connections to local unix sockets; `closed` is settable.
 * `drop` ends the connection as ssh2 reports it (its close listeners called) while its channels
 * stay open: what a drop looks like when ssh2 waits for a reader to drain a channel first.
 */
export function fakeConnection(
  options: { df?: string } = {},
): SshConnection & { closed: boolean; commands: string[]; drop(error: Error): void } {
  const commands: string[] = [];
  const listeners = new Set<(error?: Error) => void>();
  const connection = {
    closed: false,
    commands,
    authMethod: "publickey",
    forwardToSocket: (path: string) =>
      new Promise<Duplex>((resolve, reject) => {
        const c = net.connect(path);
        c.once("connect", () => resolve(c));
        c.once("error", reject);
      }),
    exec: (command: string) => {
      commands.push(command);
      return Promise.resolve({ stdout: options.df ?? "", stderr: "", code: 0 });
    },
    execStream: () => Promise.reject(new Error("no dial-stdio here")),
    forwardTcp: () => Promise.reject(new Error("no tcp here")),
    forwardIn: () => Promise.reject(new Error("no remote forward here")),
    sftp: () => Promise.reject(new Error("no sftp here")),
    onClose: (listener: (error?: Error) => void) => {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    close: () => {
      connection.closed = true;
    },
    drop: (error: Error) => {
      connection.closed = true;
      for (const listener of listeners) listener(error);
    },
  };
  return connection;
}

/** One progress line as the engine writes it. */
export function line(event: object): string {
  return `${JSON.stringify(event)}\r\n`;
}
