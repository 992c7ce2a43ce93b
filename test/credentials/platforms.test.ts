/**
 * Docker Desktop's credential stores and CA folders, and the credentials file's mode, on each
 * platform (given as a parameter: no macOS or Windows machine runs CI). The helper test runs a
 * real `docker-credential-desktop` (a script) found on PATH as the docker CLI finds it.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCredentialsFile } from "../../src/credentials/credentials-file.js";
import { askCredentialHelper } from "../../src/credentials/docker-config.js";
import { dockerCertsDirs, trustedCas } from "../../src/registry/registry-client.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mp-sideload-platforms-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each(["desktop", "osxkeychain", "wincred"])("credsStore %s", (store) => {
  it(`docker-credential-${store} is found on PATH and asked`, async () => {
    const bin = join(dir, `bin-${store}`);
    await mkdir(bin);
    const helper = join(bin, `docker-credential-${store}`);
    await writeFile(
      helper,
      `#!/bin/sh\nread server\necho "{\\"ServerURL\\":\\"$server\\",\\"Username\\":\\"ann\\",\\"Secret\\":\\"s3cret-${store}\\"}"\n`,
    );
    await chmod(helper, 0o755);
    const auth = await askCredentialHelper(store, "harbor.example.com", "harbor.example.com", {
      PATH: `/nonexistent:${bin}:/usr/bin:/bin`,
    });
    expect(auth).toEqual({
      username: "ann",
      password: `s3cret-${store}`,
      serveraddress: "harbor.example.com",
    });
  });
});

it("a helper absent from PATH is named, with 'not found on PATH'", async () => {
  await expect(
    askCredentialHelper("desktop", "h.example.com", "h.example.com", { PATH: "/nonexistent" }),
  ).rejects.toThrow(/docker-credential-desktop.*not found on PATH/);
});

describe("the registry CA folders", () => {
  it.each([
    ["linux", { HOME: "/home/ann" }, ["/home/ann/.docker/certs.d", "/etc/docker/certs.d"]],
    ["darwin", { HOME: "/Users/ann" }, ["/Users/ann/.docker/certs.d"]],
    ["win32", { USERPROFILE: "C:\\Users\\ann" }, ["C:\\Users\\ann\\.docker\\certs.d"]],
  ] as const)("%s: %j", (platform, env, dirs) => {
    expect(dockerCertsDirs(env, platform)).toEqual(dirs);
  });

  it.each(["darwin", "linux"] as const)(
    "%s: ~/.docker/certs.d/<host>/ca.crt is trusted for that registry only",
    async (platform) => {
      const home = join(dir, `home-${platform}`);
      const pem = "-----BEGIN CERTIFICATE-----\nMIIBdesktop\n-----END CERTIFICATE-----\n";
      await mkdir(join(home, ".docker/certs.d/harbor.example.com:8443"), { recursive: true });
      await writeFile(join(home, ".docker/certs.d/harbor.example.com:8443/ca.crt"), pem);
      expect(trustedCas("harbor.example.com:8443", { env: { HOME: home } }, platform)).toContain(pem);
      expect(trustedCas("other.example.com", { env: { HOME: home } }, platform)).not.toContain(pem);
    },
  );
});

describe("the credentials file's mode", () => {
  it.each([
    ["linux", 0o644, [/can be read by others than its owner \(mode 644\): chmod 600/]],
    ["linux", 0o600, []],
    ["darwin", 0o640, [/mode 640/]],
    // Windows reports 0666 whatever the ACL says: one sentence saying so, not a chmod that means nothing.
    [
      "win32",
      0o666,
      [/on Windows its permissions cannot be checked from its mode; make sure only you can read it/],
    ],
  ] as const)("%s, mode %o", async (platform, mode, warnings) => {
    const file = join(dir, `creds-${platform}-${mode.toString(8)}.toml`);
    await writeFile(file, '[h]\nregistry = "h.example.com"\nusername = "u"\npassword = "p4ssw0rd"\n');
    await chmod(file, mode);
    const told: string[] = [];
    await readCredentialsFile(file, (m) => told.push(m), platform);
    expect(told).toHaveLength(warnings.length);
    warnings.forEach((w, i) => expect(told[i]).toMatch(w));
  });
});
