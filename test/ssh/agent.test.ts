/** The SSH agent asked when nothing names one, per platform (given as a parameter). */
import { describe, expect, it } from "vitest";
import { defaultAgent, windowsAgentPipe } from "../../src/ssh/agent.js";

describe("defaultAgent", () => {
  const pipeExists = (path: string) => path === windowsAgentPipe;
  const nothing = () => false;
  it.each([
    ["linux", { SSH_AUTH_SOCK: "/tmp/ssh-x/agent.1" }, nothing, "/tmp/ssh-x/agent.1"],
    ["linux", {}, pipeExists, undefined],
    [
      "darwin",
      { SSH_AUTH_SOCK: "/private/tmp/com.apple.launchd.x/Listeners" },
      nothing,
      "/private/tmp/com.apple.launchd.x/Listeners",
    ],
    ["darwin", {}, nothing, undefined],
    ["win32", { SSH_AUTH_SOCK: "\\\\.\\pipe\\my-agent" }, pipeExists, "\\\\.\\pipe\\my-agent"],
    ["win32", {}, pipeExists, "\\\\.\\pipe\\openssh-ssh-agent"],
    ["win32", {}, nothing, "pageant"],
  ] as const)("%s, %j → %s", (platform, env, exists, agent) => {
    expect(defaultAgent(env, platform, exists)).toBe(agent);
  });
});
