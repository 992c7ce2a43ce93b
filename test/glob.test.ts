import { describe, expect, it } from "vitest";
import { globToRegExp } from "../src/glob.js";

describe("globToRegExp", () => {
  it.each([
    ["cp-*", {}, "cp-east-1", true],
    ["cp-*", {}, "xcp-east-1", false],
    ["cp-?", {}, "cp-1", true],
    ["cp-?", {}, "cp-10", false],
    ["*.example.com", {}, "cp1.example.com", true],
    ["*.example.com", {}, "cp1xexample.com", false],
    ["cp[12]", { classes: true }, "cp2", true],
    ["cp[12]", { classes: true }, "cp3", false],
    ["cp[!1]", { classes: true }, "cp2", true],
    ["cp[!1]", { classes: true }, "cp1", false],
    ["cp[a-c]x", { classes: true }, "cpbx", true],
    ["cp[]]", { classes: true }, "cp]", true],
    ["cp[", { classes: true }, "cp[", true],
    ["cp[12]", {}, "cp[12]", true],
    ["CP-*", { ignoreCase: true }, "cp-1", true],
    ["CP-*", {}, "cp-1", false],
    ["a(b)+c", {}, "a(b)+c", true],
  ] as const)("%s %j matches %s: %s", (pattern, options, name, expected) => {
    expect(globToRegExp(pattern, options).test(name)).toBe(expected);
  });
});
