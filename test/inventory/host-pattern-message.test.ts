import { describe, expect, it } from "vitest";
import { selectProxies } from "../../src/inventory/host-pattern.js";
import type { Proxy } from "../../src/inventory/proxy.js";

const proxy = (name: string, groups: string[]): Proxy => ({
  name,
  host: name,
  port: 22,
  user: "root",
  groups,
});

describe("--limit subscript past the end", () => {
  it("names the whole pattern, subscript included", () => {
    const proxies = [proxy("e1", ["east"]), proxy("e2", ["east"])];
    expect(() => selectProxies(proxies, ["east[9]"])).toThrow(/no host at "east\[9\]": it matches 2 host/);
  });
});
