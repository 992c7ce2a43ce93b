import { describe, expect, it } from "vitest";
import { parseAdapterConf } from "../../src/pak/conf.js";
import { SideloadError } from "../../src/errors.js";

describe("parseAdapterConf", () => {
  it.each([
    ["plain", "A=1\nB=2\n", { A: "1", B: "2" }],
    ["CRLF", "A=1\r\nB=2\r\n", { A: "1", B: "2" }],
    ["BOM", "\uFEFFA=1\n", { A: "1" }],
    ["blank lines and comments", "\n# c\n  \nA=1\n#B=2\n", { A: "1" }],
    ["spaces around =", "  A =  1  \n", { A: "1" }],
    ["= inside the value", "A=x=y\n", { A: "x=y" }],
    ["empty value", "A=\n", { A: "" }],
  ])("parses %s", (_name, text, expected) => {
    const conf = parseAdapterConf(text, "x.conf");
    expect(Object.fromEntries([...conf].map(([k, v]) => [k, v.value]))).toEqual(expected);
  });

  it("records the line of each key", () => {
    const conf = parseAdapterConf("# header\n\nA=1\nB=2\n", "x.conf");
    expect(conf.get("B")?.line).toBe(4);
  });

  it.each([
    ["a line without =", "A=1\nnonsense\n", 'x.conf line 2: "nonsense" is not KEY=VALUE'],
    ["a duplicate key", "A=1\nA=2\n", "x.conf line 2: A is set again (first set on line 1)"],
    ["a bad key", "A B=1\n", 'x.conf line 1: "A B" is not a valid key'],
    ["a lone CR inside a value", "A=1\rB=2\n", "x.conf line 1: the value of A has control characters"],
  ])("rejects %s", (_name, text, message) => {
    expect(() => parseAdapterConf(text, "x.conf")).toThrow(SideloadError);
    expect(() => parseAdapterConf(text, "x.conf")).toThrow(message);
  });
});
