import { describe, expect, it } from "vitest";
import { noProxyCovers, relayEngineProblem } from "../../src/relay/engine-checks.js";

const registry = "harbor.example.com:8443";
const classic = {
  ServerVersion: "20.10.24+dfsg1",
  DriverStatus: [["Backing Filesystem", "extfs"]],
  RegistryConfig: {
    InsecureRegistryCIDRs: ["127.0.0.0/8"],
    IndexConfigs: { "docker.io": { Secure: true } },
    Mirrors: [],
  },
};
const containerd28 = {
  ...classic,
  ServerVersion: "28.0.1",
  DriverStatus: [["driver-type", "io.containerd.snapshotter.v1"]],
  RegistryConfig: { InsecureRegistryCIDRs: ["::1/128", "127.0.0.0/8"], IndexConfigs: {}, Mirrors: [] },
};

describe("relayEngineProblem", () => {
  it.each([
    ["Docker 20.10, classic store", classic, undefined],
    ["Docker 28, classic store", { ...classic, ServerVersion: "28.1.0" }, undefined],
    ["Docker 27 with containerd", { ...containerd28, ServerVersion: "27.5.0" }, undefined],
    ["Docker 28 with containerd", containerd28, "RELAY_ENGINE_UNSUITABLE"],
    [
      "Docker 28 with containerd and insecure-registries",
      {
        ...containerd28,
        RegistryConfig: { ...containerd28.RegistryConfig, IndexConfigs: { [registry]: { Secure: false } } },
      },
      undefined,
    ],
    [
      "Docker 28 with containerd and a CIDR of its own",
      {
        ...containerd28,
        RegistryConfig: {
          ...containerd28.RegistryConfig,
          InsecureRegistryCIDRs: ["10.0.0.0/8", "127.0.0.0/8"],
        },
      },
      undefined,
    ],
    [
      "Docker 28 with containerd and registry-mirrors",
      {
        ...containerd28,
        RegistryConfig: { ...containerd28.RegistryConfig, Mirrors: ["https://mirror.example.com/"] },
      },
      undefined,
    ],
    [
      "an HTTP proxy without NoProxy",
      { ...classic, HttpsProxy: "http://user:pw@squid:3128" },
      "RELAY_ENGINE_PROXY",
    ],
    [
      "an HTTP proxy, NoProxy covering it",
      { ...classic, HttpProxy: "http://squid:3128", NoProxy: "localhost,.example.com" },
      undefined,
    ],
  ])("%s", (_what, info, code) => {
    const problem = relayEngineProblem(info, [registry], "cp-1 (10.0.0.1:22)");
    expect(problem?.code).toBe(code);
    expect(problem?.message ?? "").not.toContain("pw@");
    if (code === "RELAY_ENGINE_UNSUITABLE") expect(problem?.hint).toContain("insecure-registries");
  });
});

describe("noProxyCovers", () => {
  it.each([
    ["*", true],
    ["harbor.example.com", true],
    ["example.com", true],
    [".example.com", true],
    ["*.example.com", true],
    ["harbor.example.com:8443", true],
    ["harbor.example.com:443", false],
    ["ample.com", false],
    ["10.0.0.0/8,localhost", false],
    ["", false],
  ])("%j", (noProxy, covers) => {
    expect(noProxyCovers(noProxy, registry)).toBe(covers);
  });
});
