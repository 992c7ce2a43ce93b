import { afterEach, describe, expect, it } from "vitest";
import { resolveRegistryCredentials } from "../../src/credentials/resolve.js";
import { clearSecrets, redact, registerSecret } from "../../src/credentials/redact.js";

const none = () => Promise.resolve("");

afterEach(clearSecrets);

describe("resolveRegistryCredentials", () => {
  it("takes the password from stdin (one trailing newline dropped) before the environment", async () => {
    const creds = await resolveRegistryCredentials(
      {
        user: "u",
        passwordStdin: true,
        env: { MP_SIDELOAD_REGISTRY_PASSWORD: "env-pw" },
        readStdin: () => Promise.resolve("s3cret pw\n"),
      },
      "r",
    );
    expect(creds).toEqual({ username: "u", password: "s3cret pw" });
  });

  it("takes user and password from the environment", async () => {
    const creds = await resolveRegistryCredentials(
      {
        passwordStdin: false,
        env: { MP_SIDELOAD_REGISTRY_USER: "eu", MP_SIDELOAD_REGISTRY_PASSWORD: "epw1" },
        readStdin: none,
      },
      "r",
    );
    expect(creds).toEqual({ username: "eu", password: "epw1" });
  });

  it("--registry-user beats the environment's user", async () => {
    const creds = await resolveRegistryCredentials(
      {
        user: "flag",
        passwordStdin: false,
        env: { MP_SIDELOAD_REGISTRY_USER: "eu", MP_SIDELOAD_REGISTRY_PASSWORD: "epw1" },
        readStdin: none,
      },
      "r",
    );
    expect(creds.username).toBe("flag");
  });

  it("asks for what is missing when there is a terminal", async () => {
    const asked: string[] = [];
    const creds = await resolveRegistryCredentials(
      {
        passwordStdin: false,
        env: {},
        readStdin: none,
        ask: {
          user: () => (asked.push("user"), Promise.resolve("au")),
          password: (u) => (asked.push(`password of ${u}`), Promise.resolve("apw1")),
        },
      },
      "r",
    );
    expect(creds).toEqual({ username: "au", password: "apw1" });
    expect(asked).toEqual(["user", "password of au"]);
  });

  it.each([
    [{ env: {} }, "no user for registry r, and no terminal to ask in"],
    [{ env: { MP_SIDELOAD_REGISTRY_USER: "u" } }, "no password for registry r, and no terminal to ask in"],
  ])("fails with CREDENTIALS_MISSING and exit 2 without a terminal (%j)", async ({ env }, message) => {
    await expect(
      resolveRegistryCredentials({ passwordStdin: false, env, readStdin: none }, "r"),
    ).rejects.toMatchObject({
      code: "CREDENTIALS_MISSING",
      exitStatus: 2,
      message,
    });
  });

  it("refuses an empty stdin", async () => {
    await expect(
      resolveRegistryCredentials({ user: "u", passwordStdin: true, env: {}, readStdin: none }, "r"),
    ).rejects.toMatchObject({
      code: "CREDENTIALS_MISSING",
    });
  });

  it("registers the password so that output is redacted", async () => {
    await resolveRegistryCredentials(
      { user: "u", passwordStdin: true, env: {}, readStdin: () => Promise.resolve("hunter22") },
      "r",
    );
    expect(redact("auth hunter22 failed")).toBe("auth *** failed");
  });
});

describe("redact", () => {
  it("masks the secret and its base64 and URL-encoded forms", () => {
    registerSecret("p@ss word");
    expect(redact(`a p@ss word b ${Buffer.from("p@ss word").toString("base64")} c p%40ss%20word`)).toBe(
      "a *** b *** c ***",
    );
  });
  it("leaves text alone when no secret is registered", () => {
    expect(redact("nothing to hide")).toBe("nothing to hide");
  });
});
