/**
 * SSH remote forwards (`tcpip-forward`, RFC 4254 7.1) on one connection: the proxy's sshd
 * listens on an address of the proxy and hands each connection made there back through this
 * connection as a channel. ssh2 announces every forwarded connection of the client on one event
 * (`tcp connection`); this module keeps one handler per bound address and port.
 */
import type { Duplex } from "node:stream";
import type ssh2 from "ssh2";
import { SideloadError, hostPort } from "../errors.js";

/** A listening forward; `close` asks sshd to stop listening (channels already open stay). */
export interface RemoteForward {
  /** The port sshd bound (the one asked for). */
  readonly port: number;
  close(): Promise<void>;
}

type Client = InstanceType<typeof ssh2.Client>;
type OnConnection = (stream: Duplex) => void;

/** The `forwardIn` of one connection. */
export function remoteForwarder(client: Client, where: string) {
  const handlers = new Map<string, OnConnection>();
  client.on("tcp connection", (details, accept, reject) => {
    const handler = handlers.get(hostPort(details.destIP, details.destPort));
    if (handler === undefined) return void reject();
    handler(accept());
  });
  return (address: string, port: number, onConnection: OnConnection): Promise<RemoteForward> =>
    new Promise((resolve, reject) => {
      const key = hostPort(address, port);
      client.forwardIn(address, port, (error) => {
        if (error) {
          reject(
            new SideloadError(
              "RELAY_FORWARD_REFUSED",
              `${where}: sshd refused to listen on ${key} for the relay (${error.message})`,
              {
                hint: "the proxy's sshd must allow remote forwarding (AllowTcpForwarding yes or remote), and nothing else may listen there",
                cause: error,
              },
            ),
          );
          return;
        }
        handlers.set(key, onConnection);
        resolve({
          port,
          close: () =>
            new Promise<void>((done) => {
              handlers.delete(key);
              try {
                client.unforwardIn(address, port, () => done());
              } catch {
                done(); // the connection is gone: so is the forward
              }
            }),
        });
      });
    });
}
