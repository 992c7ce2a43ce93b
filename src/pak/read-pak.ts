import { basename } from "node:path";
import type { Entry } from "yauzl";
import { SideloadError, quote } from "../errors.js";
import { checkRegularFile } from "../files.js";
import {
  checkDigest,
  checkRegistry,
  checkRepository,
  composeReference,
  type ImageReference,
  type ValueCheck,
} from "../reference.js";
import { parseAdapterConf, type AdapterConf } from "./conf.js";
import {
  EntryTooLarge,
  TooManyEntries,
  ZipProblem,
  openZipBuffer,
  openZipFile,
  readEntry,
  type OpenZip,
} from "./zip.js";

/** One adapter of a pak and the image it references. */
export interface Adapter extends ImageReference {
  kind: string;
  /** `REGISTRY + REPOSITORY + "@" + DIGEST`, verbatim. */
  reference: string;
  /** True when the pak names no REGISTRY and `--default-registry` supplied it. */
  defaultRegistry: boolean;
  /** Where the values came from, e.g. `adapter.zip: MySQLAdapter.conf`. */
  source: string;
  /** Every key of the `.conf`, in file order. */
  conf: Record<string, string>;
}

export interface Pak {
  file: string;
  name: string;
  version: string;
  adapters: Adapter[];
}

export interface ReadPakOptions {
  /** The proxy's default registry, used only for an adapter whose `.conf` has no REGISTRY. */
  defaultRegistry?: string | undefined;
  /** Limits against hostile paks; the defaults suit every real pak. */
  limits?: Partial<PakLimits>;
}

export interface PakLimits {
  /** Entries in the outer zip. A large pak's content/ has thousands, not hundreds of thousands. */
  maxEntries: number;
  /** Entries in an adapter zip. */
  maxAdapterEntries: number;
  /** Inflated size of one adapter zip. Real ones are a few hundred KiB. */
  maxAdapterBytes: number;
  /** Inflated size of manifest.txt or a .conf. */
  maxTextBytes: number;
}

export const defaultPakLimits: PakLimits = {
  maxEntries: 200_000,
  maxAdapterEntries: 10_000,
  maxAdapterBytes: 64 * 1024 * 1024,
  maxTextBytes: 1024 * 1024,
};

const kindPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const rebuildHint = "rebuild the pak with mp-build, or ask its author for an intact copy";

/**
 * Read the adapter image references of a management pack. Only the outer zip's central
 * directory, `manifest.txt` and the adapter zip(s) are read: never `content/`, never to disk.
 */
export async function readPak(file: string, options: ReadPakOptions = {}): Promise<Pak> {
  const limits = { ...defaultPakLimits, ...options.limits };
  const label = basename(file);
  await checkIsFile(file);

  const outer = await openOrExplain(
    () => openZipFile(file, limits.maxEntries),
    label,
    "PAK_NOT_ZIP",
    limits.maxEntries,
  );
  try {
    const manifest = await readManifest(outer, label, limits);
    const adapters: Adapter[] = [];
    for (const [index, zipName] of manifest.adapterZips.entries()) {
      adapters.push(
        ...(await readAdapterZip(
          outer,
          label,
          zipName,
          manifest.kinds[index],
          options.defaultRegistry,
          limits,
        )),
      );
    }
    return { file, name: manifest.name, version: manifest.version, adapters };
  } finally {
    outer.zip.close();
  }
}

async function checkIsFile(file: string): Promise<void> {
  // A named pipe or a device would block the open (and ignore signals) or never end.
  await checkRegularFile(file, { what: "pak", hint: "give the path of the .pak that mp-build wrote" });
}

async function openOrExplain(
  open: () => Promise<OpenZip>,
  where: string,
  code: "PAK_NOT_ZIP" | "ADAPTER_NOT_ZIP",
  maxEntries: number,
): Promise<OpenZip> {
  try {
    return await open();
  } catch (error) {
    if (error instanceof TooManyEntries) {
      throw new SideloadError(
        "PAK_TOO_MANY_ENTRIES",
        `${where} declares ${error.count} zip entries; more than the ${maxEntries} a management pack can have`,
        { hint: rebuildHint },
      );
    }
    const detail = error instanceof Error ? error.message : String(error);
    throw new SideloadError(code, `${where} is not a readable zip file (${detail})`, {
      hint: code === "PAK_NOT_ZIP" ? `it may be truncated or not a .pak at all; ${rebuildHint}` : rebuildHint,
      cause: error,
    });
  }
}

interface Manifest {
  name: string;
  version: string;
  adapterZips: string[];
  kinds: (string | undefined)[];
}

async function readManifest(outer: OpenZip, label: string, limits: PakLimits): Promise<Manifest> {
  const where = `${label}: manifest.txt`;
  const entry = uniqueEntry(outer, "manifest.txt", label, "PAK_MANIFEST_INVALID");
  if (!entry) {
    throw new SideloadError("PAK_MANIFEST_INVALID", `${label} has no manifest.txt at its root`, {
      hint: `is this a management pack? ${rebuildHint}`,
    });
  }
  const text = await readText(outer, entry, where, limits.maxTextBytes, "PAK_MANIFEST_INVALID");
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (error) {
    throw new SideloadError(
      "PAK_MANIFEST_INVALID",
      `${where} is not valid JSON (${(error as Error).message})`,
      {
        hint: rebuildHint,
      },
    );
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new SideloadError("PAK_MANIFEST_INVALID", `${where} is not a JSON object`, { hint: rebuildHint });
  }
  const manifest = json as Record<string, unknown>;
  const name = optionalString(manifest, "name", where) ?? label.replace(/\.pak$/i, "");
  const version = optionalString(manifest, "version", where) ?? "";

  const listed = optionalStringArray(manifest, "adapters", where);
  const kinds = optionalStringArray(manifest, "adapter_kinds", where) ?? [];
  for (const kind of kinds) {
    if (!kindPattern.test(kind)) {
      throw new SideloadError(
        "PAK_MANIFEST_INVALID",
        `${where}: adapter kind ${quote(kind)} is not a valid kind key`,
        {
          hint: rebuildHint,
        },
      );
    }
  }
  let adapterZips: string[];
  if (listed && listed.length > 0) {
    adapterZips = listed;
    for (const zipName of adapterZips) {
      if (zipName.startsWith("/") || zipName.split(/[\\/]/).includes("..")) {
        throw new SideloadError(
          "PAK_MANIFEST_INVALID",
          `${where}: adapter ${quote(zipName)} is not a path inside the pak`,
          {
            hint: rebuildHint,
          },
        );
      }
    }
  } else if (outer.entries.has("adapter.zip")) {
    adapterZips = ["adapter.zip"];
  } else {
    throw new SideloadError(
      "PAK_NO_ADAPTER",
      `${label}: manifest.txt lists no adapters and there is no adapter.zip`,
      {
        hint: "this pak carries no adapter image; nothing to sideload",
      },
    );
  }
  return { name, version, adapterZips, kinds: listed && listed.length > 0 ? kinds : [] };
}

async function readAdapterZip(
  outer: OpenZip,
  label: string,
  zipName: string,
  kind: string | undefined,
  defaultRegistry: string | undefined,
  limits: PakLimits,
): Promise<Adapter[]> {
  const where = `${label}: ${zipName}`;
  const entry = uniqueEntry(outer, zipName, label, "PAK_NO_ADAPTER");
  if (!entry) {
    throw new SideloadError(
      "PAK_NO_ADAPTER",
      `${label}: manifest.txt lists ${quote(zipName)} but the pak has no such entry`,
      {
        hint: rebuildHint,
      },
    );
  }
  let buffer: Buffer;
  try {
    buffer = await readEntry(outer.zip, entry, limits.maxAdapterBytes);
  } catch (error) {
    if (error instanceof EntryTooLarge) {
      throw new SideloadError(
        "ADAPTER_TOO_LARGE",
        `${where} inflates to more than ${limits.maxAdapterBytes} bytes; a real adapter zip is far smaller`,
        { hint: `refusing a possible zip bomb; ${rebuildHint}` },
      );
    }
    throw new SideloadError("PAK_NOT_ZIP", `${where} cannot be inflated (${(error as Error).message})`, {
      hint: rebuildHint,
    });
  }
  const inner = await openOrExplain(
    () => openZipBuffer(buffer, limits.maxAdapterEntries),
    where,
    "ADAPTER_NOT_ZIP",
    limits.maxAdapterEntries,
  );
  try {
    const rootConfs = [...inner.entries.keys()].filter(
      (n) => !n.includes("/") && n.toLowerCase().endsWith(".conf"),
    );
    let confName: string;
    if (kind !== undefined) {
      confName = `${kind}.conf`;
      if (!inner.entries.has(confName)) {
        throw new SideloadError(
          "CONF_NOT_FOUND",
          `${where} has no ${confName} at its root (adapter kind ${kind})`,
          {
            hint:
              rootConfs.length > 0 ? `its root holds ${rootConfs.join(", ")}; ${rebuildHint}` : rebuildHint,
          },
        );
      }
    } else if (rootConfs.length === 1 && rootConfs[0] !== undefined) {
      confName = rootConfs[0];
    } else {
      throw new SideloadError(
        "CONF_NOT_FOUND",
        rootConfs.length === 0
          ? `${where} has no <ADAPTERKIND>.conf at its root`
          : `${where} has ${rootConfs.length} .conf files at its root and manifest.txt names no adapter_kinds`,
        { hint: rebuildHint },
      );
    }
    const confEntry = uniqueEntry(inner, confName, where, "CONF_INVALID");
    if (!confEntry)
      throw new SideloadError("CONF_NOT_FOUND", `${where} has no ${confName}`, { hint: rebuildHint });
    const confWhere = `${where}: ${confName}`;
    const text = await readText(inner, confEntry, confWhere, limits.maxTextBytes, "CONF_INVALID");
    const conf = parseAdapterConf(text, confWhere);
    return [adapterFromConf(conf, confWhere, kind ?? confName.slice(0, -".conf".length), defaultRegistry)];
  } finally {
    inner.zip.close();
  }
}

/**
 * Build the adapter from its parsed `.conf`: validate each part of the reference and compose it.
 * Exported for table-driven tests of the validation messages.
 */
export function adapterFromConf(
  conf: AdapterConf,
  where: string,
  kind: string,
  defaultRegistry: string | undefined,
): Adapter {
  const repository = conf.get("REPOSITORY");
  if (!repository || repository.value === "") {
    throw new SideloadError("CONF_NO_REPOSITORY", `${where} has no REPOSITORY`, {
      hint: `the .conf must set REPOSITORY=/path/to/image; ${rebuildHint}`,
    });
  }
  const digest = conf.get("DIGEST");
  if (!digest || digest.value === "") {
    throw new SideloadError("CONF_NO_DIGEST", `${where} has no DIGEST`, {
      hint: `the .conf must set DIGEST=sha256:<64 hex>; ${rebuildHint}`,
    });
  }
  const registrySetting = conf.get("REGISTRY");
  let registry: string;
  let usedDefault = false;
  if (registrySetting && registrySetting.value !== "") {
    registry = expect(
      "REGISTRY",
      registrySetting.value,
      registrySetting.line,
      checkRegistry(registrySetting.value),
      where,
    );
  } else {
    if (defaultRegistry === undefined) {
      throw new SideloadError(
        "NO_DEFAULT_REGISTRY",
        `${where} names no REGISTRY: the image is on the proxies' default registry, which the pak does not name`,
        {
          hint: "pass --default-registry HOST[:PORT] with the registry your cloud proxies are configured to use",
        },
      );
    }
    const checked = checkRegistry(defaultRegistry);
    if (!checked.ok) {
      throw new SideloadError("USAGE", `--default-registry ${quote(defaultRegistry)} ${checked.problem}`, {
        hint: `e.g. --default-registry ${checked.example}`,
      });
    }
    registry = defaultRegistry;
    usedDefault = true;
  }
  const ref: ImageReference = {
    registry,
    repository: expect(
      "REPOSITORY",
      repository.value,
      repository.line,
      checkRepository(repository.value),
      where,
    ),
    digest: expect("DIGEST", digest.value, digest.line, checkDigest(digest.value), where),
  };
  const kindKey = conf.get("KINDKEY")?.value;
  if (kindKey !== undefined && kindKey !== kind) {
    throw new SideloadError(
      "CONF_INVALID",
      `${where}: KINDKEY ${quote(kindKey)} does not match adapter kind ${quote(kind)}`,
      {
        hint: rebuildHint,
      },
    );
  }
  return {
    kind,
    ...ref,
    reference: composeReference(ref),
    defaultRegistry: usedDefault,
    source: where.slice(where.indexOf(": ") + 2),
    conf: Object.fromEntries([...conf].map(([key, setting]) => [key, setting.value])),
  };
}

function expect(key: string, value: string, line: number, check: ValueCheck<string>, where: string): string {
  if (check.ok) return check.value;
  throw new SideloadError(
    "REFERENCE_INVALID",
    `${where} line ${line}: ${key} ${quote(value)} ${check.problem}`,
    {
      hint: `expected something like ${key}=${check.example}; ${rebuildHint}`,
    },
  );
}

function uniqueEntry(
  zip: OpenZip,
  name: string,
  where: string,
  code: "PAK_MANIFEST_INVALID" | "PAK_NO_ADAPTER" | "CONF_INVALID",
): Entry | undefined {
  const entry = zip.entries.get(name);
  if (entry === "duplicate") {
    throw new SideloadError(code, `${where} holds ${quote(name)} more than once`, {
      hint: `an ambiguous zip may be an attempt to show one value and install another; ${rebuildHint}`,
    });
  }
  return entry;
}

async function readText(
  zip: OpenZip,
  entry: Entry,
  where: string,
  maxBytes: number,
  code: "PAK_MANIFEST_INVALID" | "CONF_INVALID",
): Promise<string> {
  try {
    const bytes = await readEntry(zip.zip, entry, maxBytes);
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    const detail =
      error instanceof EntryTooLarge
        ? `larger than ${maxBytes} bytes`
        : error instanceof ZipProblem
          ? error.message
          : "not UTF-8 text";
    throw new SideloadError(code, `${where} cannot be read (${detail})`, { hint: rebuildHint });
  }
}

function optionalString(object: Record<string, unknown>, key: string, where: string): string | undefined {
  const value = object[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") {
    throw new SideloadError("PAK_MANIFEST_INVALID", `${where}: "${key}" is not a string`, {
      hint: rebuildHint,
    });
  }
  return value;
}

function optionalStringArray(
  object: Record<string, unknown>,
  key: string,
  where: string,
): string[] | undefined {
  const value = object[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw new SideloadError("PAK_MANIFEST_INVALID", `${where}: "${key}" is not a list of strings`, {
      hint: rebuildHint,
    });
  }
  return value;
}
