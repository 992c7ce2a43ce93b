/**
 * The Engine class over dockerode, its SSH-channel agent and an in-process fake engine: what
 * goes in X-Registry-Auth, how progress moves, and that hostile or unlucky answers (an endless
 * line, an oversized answer, a stall, a full disk, a cut stream) end in one clear code, bounded.
 */
import type http from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { Engine, maxPullLineBytes, type PullProgress } from "../../src/engine/engine.js";
import { SideloadError } from "../../src/errors.js";
import { fakeConnection, line, startFakeEngine, type FakeEngine } from "./fake-engine.js";

const ref = {
  registry: "r.example:5000",
  repository: "/mp/a",
  digest: `sha256:${"a".repeat(64)}`,
};
const auth = { username: "u", password: "s3cret+/?~ü", serveraddress: "r.example:5000" };

let engine: FakeEngine | undefined;
let client: Engine | undefined;

afterEach(async () => {
  client?.close();
  client = undefined;
  await engine?.close();
  engine = undefined;
});

async function engineWith(handler: http.RequestListener, connection = fakeConnection()) {
  engine = await startFakeEngine(handler);
  client = new Engine(connection, engine.socket, "cp-1 (10.0.0.5:22)", "stream-local");
  return { engine, client, connection };
}

async function codeOf(work: Promise<unknown>): Promise<string | undefined> {
  try {
    await work;
    return undefined;
  } catch (error) {
    return error instanceof SideloadError ? error.code : `not a SideloadError: ${String(error)}`;
  }
}

/** Go's base64.URLEncoding.DecodeString: the URL alphabet, padding required. */
function decodeLikeTheEngine(header: string): unknown {
  if (header.length % 4 !== 0 || !/^[A-Za-z0-9_-]*={0,2}$/.test(header)) throw new Error("undecodable");
  return JSON.parse(Buffer.from(header.replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("utf8"));
}

describe("pull", () => {
  it("sends the credentials only in X-Registry-Auth, padded base64url, for every length", async () => {
    const { engine, client } = await engineWith((_request, response) => response.end(line({ status: "ok" })));
    for (const password of ["a", "ab", "abc", "p+/?>~", "ünïcode"]) {
      await client.pull(ref, { ...auth, password }, () => undefined);
      const request = engine.requests.at(-1);
      const header = String(request?.headers["x-registry-auth"]);
      expect(decodeLikeTheEngine(header)).toEqual({ ...auth, password });
      expect(request?.url).toBe(
        `/images/create?fromImage=r.example%3A5000%2Fmp%2Fa&tag=${ref.digest.replace(":", "%3A")}`,
      );
    }
    await client.pull(ref, undefined, () => undefined);
    expect(engine.requests.at(-1)?.headers["x-registry-auth"]).toBeUndefined();
  });

  it("moves the progress as layers appear, download and extract; resolves at the stream's end", async () => {
    const { client } = await engineWith((_request, response) => {
      const events = [
        { status: "Pulling from mp/a", id: ref.digest },
        { status: "Pulling fs layer", id: "l1" },
        { status: "Already exists", id: "l0" },
        { status: "Pulling fs layer", id: "l2" },
        { status: "Waiting", id: "l2" },
        { status: "Downloading", id: "l1", progressDetail: { current: 100, total: 1000 } },
        { status: "Downloading", id: "l2", progressDetail: { current: 50, total: 500 } },
        { status: "Verifying Checksum", id: "l1" },
        { status: "Download complete", id: "l1" },
        { status: "Extracting", id: "l1", progressDetail: { current: 10, total: 3000 } },
        { status: "Pull complete", id: "l1" },
        { status: "Download complete", id: "l2" },
        { status: "Pull complete", id: "l2" },
        { status: `Digest: ${ref.digest}` },
        { status: "Status: Downloaded newer image for r.example:5000/mp/a" },
      ];
      // In awkward pieces: a line split across chunks, two lines in one.
      const text = events.map(line).join("");
      for (let i = 0; i < text.length; i += 37) response.write(text.slice(i, i + 37));
      response.end();
    });
    const seen: PullProgress[] = [];
    await client.pull(ref, auth, (p) => seen.push(p));
    expect(seen.map((p) => p.layers)).toEqual([1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3]);
    expect(seen[4]).toEqual({ layers: 3, layersDone: 1, bytesDone: 150, bytesTotal: 1500 });
    expect(seen.at(-1)).toEqual({ layers: 3, layersDone: 3, bytesDone: 1500, bytesTotal: 1500 });
  });

  it("shows 'retrying' while the engine waits to retry a layer", async () => {
    const { client } = await engineWith((_request, response) => {
      response.write(line({ status: "Downloading", id: "l1", progressDetail: { current: 5, total: 10 } }));
      response.write(line({ status: "Retrying in 5 seconds", id: "l1" }));
      response.end(line({ status: "Pull complete", id: "l1" }));
    });
    const seen: PullProgress[] = [];
    await client.pull(ref, auth, (p) => seen.push(p));
    expect(seen.map((p) => p.retryingInSeconds)).toEqual([undefined, 5, undefined]);
  });

  it("an endless line fails ENGINE_BAD_STREAM at the cap, with memory bounded, and ends the stream", async () => {
    const chunk = "x".repeat(1024 * 1024);
    let sent = 0;
    const { client, engine } = await engineWith((_request, response) => {
      response.write(line({ status: "Pulling fs layer", id: "l1" }));
      const pump = () => {
        while (!response.destroyed && sent < 512 * 1024 * 1024) {
          sent += chunk.length;
          if (!response.write(chunk)) return void response.once("drain", pump);
        }
      };
      pump();
    });
    const before = process.memoryUsage().rss;
    expect(await codeOf(client.pull(ref, auth, () => undefined))).toBe("ENGINE_BAD_STREAM");
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024);
    expect(sent).toBeLessThan(64 * 1024 * 1024);
    await expect.poll(() => engine.open.size).toBe(0);
    expect(maxPullLineBytes).toBe(64 * 1024);
  });

  it("an error body without end is refused at the answer cap, not kept whole", async () => {
    const { client } = await engineWith((_request, response) => {
      response.writeHead(500, { "content-type": "application/json" });
      const chunk = "y".repeat(1024 * 1024);
      const pump = () => {
        while (!response.destroyed) if (!response.write(chunk)) return void response.once("drain", pump);
      };
      pump();
    });
    const before = process.memoryUsage().rss;
    const failure = client.pull(ref, auth, () => undefined);
    await expect(failure).rejects.toThrow(/larger than 16777216 bytes/);
    expect(process.memoryUsage().rss - before).toBeLessThan(150 * 1024 * 1024);
  });

  it("no progress for stallTimeoutMs fails PULL_STALLED, naming the registry", async () => {
    const { client } = await engineWith((_request, response) => {
      response.write(line({ status: "Downloading", id: "l1", progressDetail: { current: 5, total: 10 } }));
      // then nothing, the connection open: a blob that stops mid-transfer
    });
    const t0 = Date.now();
    const failure = client.pull(ref, auth, () => undefined, { stallTimeoutMs: 300 });
    await expect(failure).rejects.toMatchObject({ code: "PULL_STALLED", message: /r\.example:5000/ });
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it("the engine's own 'Retrying in N seconds' countdown is not a stall", async () => {
    const { client } = await engineWith((_request, response) => {
      response.write(line({ status: "Downloading", id: "l1", progressDetail: { current: 5, total: 10 } }));
      let n = 4;
      const tick = setInterval(() => {
        if (n === 0) {
          clearInterval(tick);
          return void response.end(line({ status: "Pull complete", id: "l1" }));
        }
        response.write(line({ status: `Retrying in ${n--} seconds`, id: "l1" }));
      }, 150);
    });
    await client.pull(ref, auth, () => undefined, { stallTimeoutMs: 300 });
  });

  it("the watchdog runs from the request on: an engine that never answers the pull is PULL_STALLED too", async () => {
    const { client } = await engineWith(() => undefined);
    const failure = client.pull(ref, auth, () => undefined, { stallTimeoutMs: 300 });
    await expect(failure).rejects.toMatchObject({ code: "PULL_STALLED" });
  });

  it("'no space left on device' is PROXY_DISK_FULL naming the engine's root and the free space", async () => {
    const df =
      "Filesystem 1024-blocks Used Available Capacity Mounted on\ntmpfs 65536 65000 536 100% /var/lib/docker\n";
    const { client, connection } = await engineWith((request, response) => {
      if (request.url?.endsWith("/info"))
        return response.end(JSON.stringify({ DockerRootDir: "/var/lib/docker" }));
      response.write(
        line({ status: "Downloading", id: "l1", progressDetail: { current: 5, total: 2 * 1024 * 1024 } }),
      );
      response.end(
        line({
          errorDetail: { message: "write /var/lib/docker/tmp/GetImageBlob1: no space left on device" },
          error: "write /var/lib/docker/tmp/GetImageBlob1: no space left on device",
        }),
      );
    }, fakeConnection({ df }));
    const failure = client.pull(ref, auth, () => undefined);
    await expect(failure).rejects.toMatchObject({
      code: "PROXY_DISK_FULL",
      message: expect.stringMatching(
        /\/var\/lib\/docker \(536 KiB free there now; the image's layers are 2 MiB/,
      ) as unknown,
      hint: expect.stringMatching(/mp-sideload prune.*docker image prune/) as unknown,
    });
    expect(connection.commands).toEqual(["df -Pk -- '/var/lib/docker'"]);
  });

  it("a stream cut while SSH stays up is ENGINE_RESTARTED; with the SSH connection gone, SSH_DISCONNECTED", async () => {
    for (const [sshGone, code] of [
      [false, "ENGINE_RESTARTED"],
      [true, "SSH_DISCONNECTED"],
    ] as const) {
      const connection = fakeConnection();
      const { client } = await engineWith((request, response) => {
        if (request.url?.endsWith("/_ping")) return response.end("OK");
        response.write(line({ status: "Downloading", id: "l1", progressDetail: { current: 5, total: 10 } }));
        setTimeout(() => {
          if (sshGone) connection.close();
          request.socket.destroy();
        }, 20);
      }, connection);
      expect(await codeOf(client.pull(ref, auth, () => undefined))).toBe(code);
      client.close();
      await engine?.close();
      engine = undefined;
    }
  });

  it("the SSH connection's end fails the pull SSH_DISCONNECTED at once, though its channel never ends", async () => {
    const connection = fakeConnection();
    const { client } = await engineWith((_request, response) => {
      response.write(line({ status: "Downloading", id: "l1", progressDetail: { current: 5, total: 10 } }));
      // The engine's side stays open: only the connection's own close says it is gone.
      setTimeout(() => connection.drop(new Error("read ECONNRESET")), 50);
    }, connection);
    // Without the close listener this is PULL_STALLED, once the (long) stall timeout passes.
    const failure = client.pull(ref, auth, () => undefined, { stallTimeoutMs: 15_000 });
    await expect(failure).rejects.toMatchObject({ code: "SSH_DISCONNECTED", message: /ECONNRESET/ });
    await expect.poll(() => engine?.open.size).toBe(0);
  });

  it("an error event is classified like the engine's message", async () => {
    const { client } = await engineWith((_request, response) =>
      response.end(line({ error: "manifest unknown: manifest unknown" })),
    );
    expect(await codeOf(client.pull(ref, auth, () => undefined))).toBe("MANIFEST_UNKNOWN");
  });
});

describe("JSON calls", () => {
  it("an answer larger than the cap is refused (ENGINE_UNREACHABLE naming the size)", async () => {
    const { client } = await engineWith((_request, response) => {
      response.setHeader("content-type", "application/json");
      response.end(`{"Version":"${"9".repeat(17 * 1024 * 1024)}"}`);
    });
    await expect(client.version()).rejects.toMatchObject({
      code: "ENGINE_UNREACHABLE",
      message: expect.stringMatching(/larger than 16777216 bytes/) as unknown,
    });
  });

  it("keeps answering on the same channel after a capped answer was read (the cap is per answer)", async () => {
    const { client, engine } = await engineWith((_request, response) => {
      response.setHeader("content-type", "application/json");
      response.end(
        JSON.stringify({ Version: "27.0.0", ApiVersion: "1.47", pad: "p".repeat(10 * 1024 * 1024) }),
      );
    });
    for (let i = 0; i < 3; i++)
      expect(await client.version()).toEqual({ version: "27.0.0", apiVersion: "1.47" });
    expect(new Set(engine.requests.map((r) => r.socket)).size).toBe(1);
  });

  it("404 on inspect is 'not there'; RepoDigests are read", async () => {
    const { client } = await engineWith((request, response) => {
      response.setHeader("content-type", "application/json");
      if (request.url?.includes("missing")) {
        response.statusCode = 404;
        return response.end(JSON.stringify({ message: "No such image" }));
      }
      response.end(JSON.stringify({ RepoDigests: ["r/mp/a@sha256:1"] }));
    });
    expect(await client.repoDigests("r/mp/missing@sha256:1")).toBeUndefined();
    expect(await client.repoDigests("r/mp/a@sha256:1")).toEqual(["r/mp/a@sha256:1"]);
  });

  it("the workstation's DOCKER_HOST, TLS and timeout settings play no part", async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      DOCKER_HOST: "tcp://workstation.example:2376",
      DOCKER_TLS_VERIFY: "1",
      DOCKER_CERT_PATH: "/nonexistent/certs",
      DOCKER_CLIENT_TIMEOUT: "1",
    });
    try {
      const { client } = await engineWith((_request, response) => {
        setTimeout(() => response.end(JSON.stringify({ Version: "27.0.0", ApiVersion: "1.47" })), 50);
      });
      expect(await client.version()).toEqual({ version: "27.0.0", apiVersion: "1.47" });
      expect(process.env.DOCKER_HOST).toBe("tcp://workstation.example:2376");
    } finally {
      for (const name of ["DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CLIENT_TIMEOUT"]) {
        if (saved[name] === undefined) delete process.env[name];
        else process.env[name] = saved[name];
      }
    }
  });

  it("a login's refusal is classified; the password goes in the body only", async () => {
    const { client, engine } = await engineWith((_request, response) => {
      response.statusCode = 401;
      response.setHeader("content-type", "application/json");
      response.end(
        JSON.stringify({ message: "login attempt to https://r/v2/ failed with status: 401 Unauthorized" }),
      );
    });
    await expect(client.login(auth)).rejects.toMatchObject({
      code: "REGISTRY_UNAUTHORIZED",
      message: expect.not.stringMatching(/HTTP code/) as unknown,
    });
    expect(engine.requests[0]?.url).toBe("/auth");
  });
});
