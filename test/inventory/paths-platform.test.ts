/** Paths an inventory names, as the user on each platform writes them (the platform a parameter). */
import { describe, expect, it } from "vitest";
import { inventoryPath } from "../../src/inventory/load-inventory.js";

describe("inventoryPath", () => {
  const linux = { HOME: "/home/ann" };
  const windows = { USERPROFILE: "C:\\Users\\ann" };
  it.each([
    ["linux", "~/.ssh/id_ed25519", "/srv/inv", linux, "/home/ann/.ssh/id_ed25519"],
    ["linux", "keys/id", "/srv/inv", linux, "/srv/inv/keys/id"],
    ["linux", "/etc/keys/id", "/srv/inv", linux, "/etc/keys/id"],
    ["darwin", "~/.ssh/id", "/Users/ann/inv", { HOME: "/Users/ann" }, "/Users/ann/.ssh/id"],
    ["win32", "~/.ssh/id_ed25519", "D:\\inv", windows, "C:\\Users\\ann\\.ssh\\id_ed25519"],
    ["win32", "~\\.ssh\\id_ed25519", "D:\\inv", windows, "C:\\Users\\ann\\.ssh\\id_ed25519"],
    ["win32", "C:\\keys\\id", "D:\\inv", windows, "C:\\keys\\id"],
    ["win32", "C:/keys/id", "D:\\inv", windows, "C:\\keys\\id"],
    ["win32", "keys\\id", "D:\\work\\inv", windows, "D:\\work\\inv\\keys\\id"],
    ["win32", "\\\\files\\keys\\id", "D:\\inv", windows, "\\\\files\\keys\\id"],
  ] as const)("%s: %s from %s → %s", (platform, path, base, env, expected) => {
    expect(inventoryPath(path, base, env, platform)).toBe(expected);
  });
});
