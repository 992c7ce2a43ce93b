/**
 * The CaSA client against the simulator in-process (HTTPS with its own CA): upload streamed as
 * multipart field `contents`, the advice in query and form, install with force_content_update,
 * the states over time, the two known refusals, a busy cluster, 401/403, a pak that is not a zip.
 */
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SideloadError } from "../../src/errors.js";
import { CasaClient, waitForInstall, waitUntilIdle, type CasaStatus } from "../../src/ops/casa.js";
import type { OpsConnection } from "../../src/ops/suite-api.js";
import type { SimCasaSeen, SimCasaSwitches } from "../../scripts/ops-simulator.js";
import { startTestOps, type TestOps } from "../support/ops-simulator.js";

const fixtures = join(import.meta.dirname, "../../fixtures");
const samplePak = join(fixtures, "sample.pak");

let ops: TestOps;
beforeAll(async () => {
  ops = await startTestOps();
});
afterAll(async () => {
  await ops.stop();
});

function connection(extra: Partial<OpsConnection> = {}): OpsConnection {
  return { url: `${ops.url}/install`, user: ops.user, password: ops.password, ca: ops.ca, env: {}, ...extra };
}

/** Set switches and read what the simulator saw, through Node's https with the test CA. */
async function casaSeen(switches?: SimCasaSwitches): Promise<SimCasaSeen> {
  const https = await import("node:https");
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${ops.url}/_sim/casa/install`,
      { method: switches ? "POST" : "GET", ca: ops.ca },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve(JSON.parse(text) as SimCasaSeen));
      },
    );
    req.on("error", reject);
    req.end(switches ? JSON.stringify(switches) : undefined);
  });
}

async function failure(promise: Promise<unknown>): Promise<SideloadError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SideloadError);
  return error as SideloadError;
}

const fast = () => ({ deadline: AbortSignal.timeout(20_000), intervalMs: 50 });

describe("the CaSA client against the simulator", () => {
  beforeEach(async () => {
    await casaSeen({ reset: true, candidateMs: 100, progressMs: 200 });
  });

  it("uploads the pak as field contents (STANDARD), installs, polls CANDIDATE → in progress → COMPLETED", async () => {
    const debug: string[] = [];
    const client = new CasaClient(connection({ onDebug: (m) => debug.push(m) }));
    try {
      expect(await client.currentActivity()).toEqual({ pakId: null });
      const { pakId } = await client.upload(samplePak, false);
      expect(pakId).toBe("SampleAdapter-100");
      await client.install(pakId, false);
      const states: CasaStatus[] = [];
      const end = await waitForInstall(client, pakId, fast(), (s) => states.push(s));
      expect(end.state).toBe("COMPLETED");
      expect(states.map((s) => s.state)).toEqual(["CANDIDATE", "INSTALL_IN_PROGRESS", "COMPLETED"]);
    } finally {
      client.close();
    }
    const seen = await casaSeen();
    expect(seen.uploads).toMatchObject([
      { advice: "STANDARD", adviceIn: ["query", "form"], filename: "sample.pak", refused: null },
    ]);
    const { size } = await import("node:fs/promises").then((fs) => fs.stat(samplePak));
    expect(seen.uploads[0]?.bytes).toBe(size);
    expect(seen.installs).toEqual([{ pakId: "SampleAdapter-100", forceContentUpdate: false }]);
    expect(seen.kinds).toContain("SampleAdapter");
    expect(debug.join("\n")).not.toContain(ops.password);
    expect(debug.join("\n")).not.toContain(Buffer.from(`${ops.user}:${ops.password}`).toString("base64"));
  });

  it("the same version again: CASA_PAK_NOT_NEWER; with CLOBBER it is accepted", async () => {
    const client = new CasaClient(connection());
    try {
      const first = await client.upload(samplePak, false);
      await client.install(first.pakId, false);
      await waitForInstall(client, first.pakId, fast(), () => undefined);
      const refused = await failure(client.upload(samplePak, false));
      expect(refused.code).toBe("CASA_PAK_NOT_NEWER");
      expect(refused.hint).toMatch(/--force/);
      const again = await client.upload(samplePak, true);
      await client.install(again.pakId, true);
    } finally {
      client.close();
    }
    const seen = await casaSeen();
    expect(seen.uploads.map((u) => [u.advice, u.refused])).toEqual([
      ["STANDARD", null],
      ["STANDARD", "upgrade.pak.upload_version_older_or_same"],
      ["CLOBBER", null],
    ]);
    expect(seen.installs.at(-1)).toEqual({ pakId: "SampleAdapter-100", forceContentUpdate: true });
  });

  it("an earlier upload never installed: CASA_PAK_PENDING", async () => {
    const client = new CasaClient(connection());
    try {
      await client.upload(samplePak, false);
      const refused = await failure(client.upload(samplePak, false));
      expect(refused.code).toBe("CASA_PAK_PENDING");
      expect(refused.message).toMatch(/upgrade\.pak\.history_present/);
    } finally {
      client.close();
    }
  });

  it("streams a large file whole: the server receives every byte of it as field contents", async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(join(tmpdir(), "casa-big-"));
    const big = join(dir, "big.pak");
    writeFileSync(big, Buffer.alloc(24 * 1024 * 1024, 7));
    const client = new CasaClient(connection());
    try {
      await failure(client.upload(big, false)); // not a zip: refused, after the whole body
    } finally {
      client.close();
      rmSync(dir, { recursive: true, force: true });
    }
    expect((await casaSeen()).uploads).toMatchObject([{ filename: "big.pak", bytes: 24 * 1024 * 1024 }]);
  });

  it("a pak that is not a zip: CASA_REFUSED in the server's words", async () => {
    const client = new CasaClient(connection());
    try {
      const refused = await failure(client.upload(join(fixtures, "not-a-zip.pak"), false));
      expect(refused.code).toBe("CASA_REFUSED");
      expect(refused.message).toMatch(/not a valid PAK file/);
    } finally {
      client.close();
    }
  });

  it.each([401, 403])("HTTP %i: CASA_FORBIDDEN, installing needs an admin account", async (status) => {
    await casaSeen({ status });
    const client = new CasaClient(connection());
    try {
      const refused = await failure(client.currentActivity());
      expect(refused.code).toBe("CASA_FORBIDDEN");
      expect(refused.message).toMatch(/installing needs an admin account/);
    } finally {
      client.close();
      await casaSeen({ status: null });
    }
  });

  it("a wrong password is refused the same way, and never shown", async () => {
    const client = new CasaClient(connection({ password: "not-the-Pa55word" }));
    try {
      const refused = await failure(client.currentActivity());
      expect(refused.code).toBe("CASA_FORBIDDEN");
      expect(`${refused.message} ${refused.hint ?? ""}`).not.toContain("not-the-Pa55word");
    } finally {
      client.close();
    }
  });

  it("a busy cluster: waits until idle; past the deadline CASA_BUSY naming the other pak", async () => {
    await casaSeen({ busyMs: 300 });
    const client = new CasaClient(connection());
    try {
      let waits = 0;
      await waitUntilIdle(client, fast(), () => waits++);
      expect(waits).toBeGreaterThan(0);
      await casaSeen({ busyMs: 60_000 });
      const busy = await failure(
        waitUntilIdle(client, { deadline: AbortSignal.timeout(200), intervalMs: 50 }, () => undefined),
      );
      expect(busy.code).toBe("CASA_BUSY");
      expect(busy.message).toMatch(/OtherVendorPack-900/);
    } finally {
      client.close();
      await casaSeen({ busyMs: 0 });
    }
  });

  it("a failed install ends in its state with the server's words", async () => {
    await casaSeen({
      failWith: { state: "FAILED", words: "describe.xml: adapter kind LabAdapter is invalid" },
    });
    const client = new CasaClient(connection());
    try {
      const { pakId } = await client.upload(samplePak, false);
      await client.install(pakId, false);
      const end = await waitForInstall(client, pakId, fast(), () => undefined);
      expect(end).toEqual({ state: "FAILED", words: "describe.xml: adapter kind LabAdapter is invalid" });
    } finally {
      client.close();
    }
    expect((await casaSeen()).kinds).not.toContain("SampleAdapter");
  });
});
