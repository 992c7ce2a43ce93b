/**
 * The lab itself, through the real registry: each proxy's engine pulls the sample pak's exact
 * reference with the lab credentials, and an anonymous pull is refused.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { readPak } from "../../src/pak/read-pak.js";
import { clearImages, engineOf, loadLab, pullDirect as pull, repoDigests, type Lab } from "./lab.js";

describe("the lab", () => {
  let lab: Lab;
  beforeAll(() => {
    lab = loadLab();
  });

  it("writes a pak whose reference is the image pushed to its registry", async () => {
    const pak = await readPak(lab.paks.sample);
    expect(pak.adapters.map((a) => a.reference)).toEqual([lab.sampleReference]);
  });

  it("lets every proxy's engine pull the pak's reference with the lab credentials", async () => {
    for (let proxy = 1; proxy <= lab.proxies; proxy++) {
      await clearImages(lab, proxy);
      await pull(engineOf(lab, proxy), lab.sampleReference, {
        username: lab.registryUser,
        password: lab.registryPassword,
        serveraddress: lab.registry,
      });
      expect(await repoDigests(lab, proxy)).toContain(lab.sampleReference);
      await clearImages(lab, proxy);
    }
  });

  it("refuses an anonymous pull", async () => {
    await expect(pull(engineOf(lab, 1), lab.sampleReference)).rejects.toThrow(
      /no basic auth credentials|unauthorized/,
    );
    expect(await repoDigests(lab, 1)).not.toContain(lab.sampleReference);
  });

  it("refuses a wrong password", async () => {
    await expect(
      pull(engineOf(lab, 1), lab.sampleReference, {
        username: lab.registryUser,
        password: "wrong",
        serveraddress: lab.registry,
      }),
    ).rejects.toThrow(/unauthorized|authentication required/);
  });
});
