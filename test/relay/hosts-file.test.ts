import { describe, expect, it } from "vitest";
import { addRelayLine, relayMarks, removeRelayLines } from "../../src/relay/hosts-file.js";

const mark = { runId: "run-a1", host: "harbor.example.com", keeper: 4242 };
const line = "127.0.0.1 harbor.example.com # mp-sideload relay run-a1 keeper=4242";

describe("addRelayLine and removeRelayLines", () => {
  it.each([
    [
      "a usual file",
      "127.0.0.1 localhost\n::1 localhost\n",
      `127.0.0.1 localhost\n::1 localhost\n${line}\n`,
      [],
    ],
    ["an empty file", "", `${line}\n`, []],
    ["no final newline", "127.0.0.1 localhost", `127.0.0.1 localhost\n${line} nl\n`, []],
    ["CRLF lines", "127.0.0.1 localhost\r\n", `127.0.0.1 localhost\r\n${line}\n`, []],
    [
      "a comment naming the host",
      "# harbor.example.com is ours\n",
      `# harbor.example.com is ours\n${line}\n`,
      [],
    ],
    [
      "an entry for the host",
      "127.0.0.1 localhost\n10.0.0.5 Harbor.example.com harbor # lan\n::1 localhost\n",
      `127.0.0.1 localhost\n::1 localhost\n#mp-sideload-aside run-a1 1 10.0.0.5 Harbor.example.com harbor # lan\n${line}\n`,
      ["10.0.0.5 Harbor.example.com harbor # lan"],
    ],
    [
      "an entry as the only line, without a final newline",
      "10.0.0.5 harbor.example.com",
      `#mp-sideload-aside run-a1 0 10.0.0.5 harbor.example.com\n${line} nl\n`,
      ["10.0.0.5 harbor.example.com"],
    ],
  ])(
    "%s: adds the marked line at the end, and removing it gives the file back",
    (_what, before, after, aside) => {
      const added = addRelayLine(before, mark);
      expect(added.text).toBe(after);
      expect(added.setAside).toEqual(aside);
      expect(relayMarks(added.text)).toEqual([mark]);
      expect(removeRelayLines(added.text, (id) => id === "run-a1")).toBe(before);
    },
  );

  it("leaves another run's line when removing its own, in either order", () => {
    const before = "127.0.0.1 localhost\n10.0.0.5 harbor.example.com\n";
    const a = addRelayLine(before, mark).text;
    const both = addRelayLine(a, { runId: "run-b2", host: "other.example.com", keeper: 7 }).text;
    expect(relayMarks(both).map((m) => m.runId)).toEqual(["run-a1", "run-b2"]);
    const withoutA = removeRelayLines(both, (id) => id === "run-a1");
    expect(relayMarks(withoutA).map((m) => m.runId)).toEqual(["run-b2"]);
    expect(removeRelayLines(withoutA, (id) => id === "run-b2")).toBe(before);
    const withoutB = removeRelayLines(both, (id) => id === "run-b2");
    expect(removeRelayLines(withoutB, (id) => id === "run-a1")).toBe(before);
  });

  it("takes the newline it added away only with the last run's line", () => {
    const before = "127.0.0.1 localhost";
    const both = addRelayLine(addRelayLine(before, mark).text, { ...mark, runId: "run-b2" }).text;
    expect(
      removeRelayLines(
        removeRelayLines(both, (id) => id === "run-a1"),
        () => true,
      ),
    ).toBe(before);
    expect(
      removeRelayLines(
        removeRelayLines(both, (id) => id === "run-b2"),
        () => true,
      ),
    ).toBe(before);
  });

  it("returns the text itself when no run's line is picked", () => {
    const text = `127.0.0.1 localhost\n${line}\n`;
    expect(removeRelayLines(text, () => false)).toBe(text);
    expect(removeRelayLines("a b\n", () => true)).toBe("a b\n");
  });

  it.each([
    ["a run id with a space", { ...mark, runId: "a b" }],
    ["a host with a newline", { ...mark, host: "a\n1.2.3.4 evil" }],
    ["a pid of 0", { ...mark, keeper: 0 }],
  ])("refuses %s", (_what, bad) => {
    expect(() => addRelayLine("", bad)).toThrow();
  });

  it("does not take a look-alike line for a mark", () => {
    expect(
      relayMarks(
        "127.0.0.1 h # mp-sideload relay x keeper=1 extra\n10.0.0.1 h # mp-sideload relay y keeper=2\n",
      ),
    ).toEqual([]);
  });
});
