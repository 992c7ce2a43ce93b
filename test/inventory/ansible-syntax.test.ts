import { describe, expect, it } from "vitest";
import { expandHostPattern, iniValue, parseAddress, shlexSplit } from "../../src/inventory/ansible-syntax.js";
import { splitHostPattern } from "../../src/inventory/host-pattern.js";

const never = (): never => {
  throw new Error("too many");
};

describe("host ranges, as Ansible's expand_hostname_range", () => {
  it.each([
    ["cp[01:10:3]", ["cp01", "cp04", "cp07", "cp10"]],
    ["cp[1:3]", ["cp1", "cp2", "cp3"]],
    ["cp[:2]", ["cp0", "cp1", "cp2"]],
    ["db-[a:c]", ["db-a", "db-b", "db-c"]],
    [
      "db-[x:Z]",
      [
        "db-x",
        "db-y",
        "db-z",
        "db-A",
        "db-B",
        "db-C",
        "db-D",
        "db-E",
        "db-F",
        "db-G",
        "db-H",
        "db-I",
        "db-J",
        "db-K",
        "db-L",
        "db-M",
        "db-N",
        "db-O",
        "db-P",
        "db-Q",
        "db-R",
        "db-S",
        "db-T",
        "db-U",
        "db-V",
        "db-W",
        "db-X",
        "db-Y",
        "db-Z",
      ],
    ],
    [
      "r[1:2]-n[a:b].example.com",
      ["r1-na.example.com", "r1-nb.example.com", "r2-na.example.com", "r2-nb.example.com"],
    ],
    ["10.0.0.[1:3]", ["10.0.0.1", "10.0.0.2", "10.0.0.3"]],
  ])("%s", (word, names) => {
    expect(expandHostPattern(word, "t", 10_000, never).names).toEqual(names);
  });

  it.each([
    ["cp-4.example.com:2204", "cp-4.example.com", 2204],
    ["[fd00::5]:2222", "fd00::5", 2222],
    ["fd00::5", "fd00::5", undefined],
    ["cp[01:02]:2200", "cp[01:02]", 2200],
  ])("parse_address %s", (word, host, port) => {
    expect(parseAddress(word)).toEqual(port === undefined ? { host } : { host, port });
  });

  it.each(["cp[1:]", "cp[01:100]", "cp[1:2:0]", "cp[x]", "cp[b:a]"])("refuses %s", (word) => {
    expect(() => expandHostPattern(word, "t", 10_000, never)).toThrow(/host range/);
  });

  it("stops a huge range at the budget instead of expanding it", () => {
    expect(() => expandHostPattern("cp[0:999999999]", "t", 100, never)).toThrow("too many");
  });
});

describe("INI host lines and values, as Python's shlex and ast.literal_eval", () => {
  it.each([
    ['cp1 a=1 b="x y" # comment', ["cp1", "a=1", "b=x y"]],
    ["cp1 a='#not' b=c#d", ["cp1", "a=#not", "b=c"]],
    ['cp1 a="q\\"q" b=\\#', ["cp1", 'a=q"q', "b=#"]],
    ["cp1 a=''", ["cp1", "a="]],
  ])("shlex %s", (line, words) => {
    expect(shlexSplit(line)).toEqual(words);
  });

  it.each([
    ["2222", 2222],
    ["022", "022"],
    ["0x16", 22],
    ["1_000", 1000],
    ["True", true],
    ["true", "true"],
    ["None", null],
    ['"ops"', "ops"],
    ["'a\\tb'", "a\tb"],
    ["2201  # Python reads this comment", 2201],
    ["root # not a literal, so all of it", "root # not a literal, so all of it"],
    ["-o ProxyJump=b", "-o ProxyJump=b"],
    ["1.5", 1.5],
  ])("value %j", (text, value) => {
    expect(iniValue(text)).toEqual(value);
  });
});

describe("split_host_pattern", () => {
  it.each([
    ["a:b", ["a", "b"]],
    ["prod:!west:&east", ["prod", "!west", "&east"]],
    ["a,b:c", ["a", "b:c"]],
    [" a , b ", ["a", "b"]],
    ["fd00::5", ["fd00::5"]],
    ["cp[1:3]", ["cp[1:3]"]],
    ["web[1:3]:db", ["web[1:3]", "db"]],
    ["cp-4.example.com:2204", ["cp-4.example.com:2204"]],
    ["a b", ["a", "b"]],
  ])("%j", (pattern, parts) => {
    expect(splitHostPattern(pattern)).toEqual(parts);
  });
});
