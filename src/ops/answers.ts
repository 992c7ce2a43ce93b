/**
 * The Suite API's answers, read as strictly as an inventory: each is untrusted JSON from a
 * server, turned into plain typed values or refused with OPS_INVALID naming the field. The
 * releases differ (VCF Operations 9 types its collectors, vRealize/Aria Operations 8 does not;
 * group members are numbers, strings or objects): every known form reads into one shape.
 */
import { SideloadError, quote } from "../errors.js";
import { checkHost } from "../inventory/proxy.js";

/** A collector as Ops lists it (`GET /api/collectors`). */
export interface OpsCollector {
  /** Decimal in practice; a string in `collectors`, a number in groups and adapter instances. */
  id: string;
  name: string;
  /** Host name or address; absent on some internal collectors. */
  hostName?: string | undefined;
  /** `UP`, `DOWN` (or another upper-case word a later release adds). */
  state?: string | undefined;
  /** `INTERNAL`, `REMOTE`, `CLOUD_PROXY`, `UNIFIED_CLOUD_PROXY`, `OTHER`; absent before VCF Operations 9. */
  type?: string | undefined;
  /** True for the collector on an analytics node. */
  local: boolean;
}

/** A collector group (`GET /api/collectorgroups`). */
export interface OpsCollectorGroup {
  id: string;
  name: string;
  /** Member collector ids, as strings (the API gives numbers here). */
  memberIds: string[];
}

/** An adapter instance (`GET /api/adapters?adapterKindKey=K`). */
export interface OpsAdapterInstance {
  id: string;
  name: string;
  kind: string;
  collectorId?: string | undefined;
  collectorGroupId?: string | undefined;
}

/** How many of each an answer may hold: a deployment has hundreds, not hundreds of thousands. */
export const answerLimits = { maxItems: 20_000, maxNameLength: 256 };

const idPattern = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const wordPattern = /^[A-Z][A-Z0-9_]{0,31}$/;

type Json = Record<string, unknown>;

function invalid(what: string, field: string, detail: string): SideloadError {
  return new SideloadError("OPS_INVALID", `VCF Operations ${what}: ${field} ${detail}`, {
    hint: "the answer is not what the Suite API documents: is the URL a VCF Operations (or Aria Operations) node? run again with --debug",
  });
}

function object(value: unknown, what: string, field: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw invalid(what, field, "is not an object");
  return value as Json;
}

/** The list under `key` (absent or null: none). */
function list(root: unknown, what: string, keys: string[]): unknown[] {
  const body = object(root, what, "the answer");
  const key = keys.find((k) => body[k] !== undefined && body[k] !== null);
  if (key === undefined) return [];
  const items = body[key];
  if (!Array.isArray(items)) throw invalid(what, key, "is not a list");
  if (items.length > answerLimits.maxItems)
    throw invalid(what, key, `has more than ${answerLimits.maxItems} entries`);
  return items;
}

function id(value: unknown, what: string, field: string): string {
  const text = typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? String(value) : value;
  if (typeof text !== "string" || !idPattern.test(text))
    throw invalid(what, field, `${describe(value)} is not an id`);
  return text;
}

function optionalId(value: unknown, what: string, field: string): string | undefined {
  return value === undefined || value === null || value === "" ? undefined : id(value, what, field);
}

/** A display name: any text but empty or huge; control characters are escaped where printed. */
function name(value: unknown, what: string, field: string): string {
  if (typeof value !== "string" || value.trim() === "" || value.length > answerLimits.maxNameLength)
    throw invalid(
      what,
      field,
      `${describe(value)} is not a name of 1 to ${answerLimits.maxNameLength} characters`,
    );
  return value;
}

function word(value: unknown, what: string, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || !wordPattern.test(value))
    throw invalid(what, field, `${describe(value)} is not a known value`);
  return value;
}

/** A value of an answer as a message quotes it: a string quoted, anything else as JSON. */
export function describe(value: unknown): string {
  return typeof value === "string"
    ? quote(value)
    : value === undefined
      ? "(absent)"
      : quote(JSON.stringify(value) ?? "?");
}

/** `GET /api/collectors` → `{"collector":[…]}`. */
export function parseCollectors(root: unknown): OpsCollector[] {
  const what = "collectors";
  return list(root, what, ["collector", "collectors"]).map((item, i) => {
    const at = `collector[${i}]`;
    const c = object(item, what, at);
    const hostName =
      c.hostName === undefined || c.hostName === null || c.hostName === "" ? undefined : c.hostName;
    if (hostName !== undefined && typeof hostName !== "string")
      throw invalid(what, `${at}.hostName`, "is not a string");
    if (c.local !== undefined && typeof c.local !== "boolean")
      throw invalid(what, `${at}.local`, "is not true or false");
    return {
      id: id(c.id, what, `${at}.id`),
      name: name(c.name, what, `${at}.name`),
      hostName: hostName === undefined ? undefined : opsHost(hostName, what, `${at}.hostName`),
      state: word(c.state, what, `${at}.state`),
      type: word(c.type, what, `${at}.type`),
      local: c.local === true,
    };
  });
}

function opsHost(host: string, what: string, field: string): string {
  try {
    return checkHost(host, field);
  } catch {
    throw invalid(what, field, `${quote(host)} is not a host name or address`);
  }
}

/**
 * `GET /api/collectorgroups` → `{"collectorGroups":[{"id","name","collectorId":[1,2]}]}`; the
 * cloud API names the list `collectorIds`, and some releases give members as objects.
 */
export function parseCollectorGroups(root: unknown): OpsCollectorGroup[] {
  const what = "collector groups";
  return list(root, what, ["collectorGroups", "collectorGroup"]).map((item, i) => {
    const at = `collectorGroups[${i}]`;
    const g = object(item, what, at);
    const key = ["collectorId", "collectorIds", "collectors"].find(
      (k) => g[k] !== undefined && g[k] !== null,
    );
    const members = key === undefined ? [] : g[key];
    if (!Array.isArray(members)) throw invalid(what, `${at}.${key ?? "collectorId"}`, "is not a list");
    if (members.length > answerLimits.maxItems) throw invalid(what, `${at}.${key ?? ""}`, "is too long");
    return {
      id: id(g.id, what, `${at}.id`),
      name: name(g.name, what, `${at}.name`),
      memberIds: members.map((m, j) => {
        const field = `${at}.${key ?? ""}[${j}]`;
        if (typeof m !== "object" || m === null) return id(m, what, field);
        const member = object(m, what, field);
        return id(member.id ?? member.collectorId, what, `${field}.id`);
      }),
    };
  });
}

/** `GET /api/adapters?adapterKindKey=K` → `{"adapterInstancesInfoDto":[…]}`. */
export function parseAdapterInstances(root: unknown): OpsAdapterInstance[] {
  const what = "adapter instances";
  return list(root, what, ["adapterInstancesInfoDto", "adapterInstances"]).map((item, i) => {
    const at = `adapterInstancesInfoDto[${i}]`;
    const a = object(item, what, at);
    const key = object(a.resourceKey, what, `${at}.resourceKey`);
    return {
      id: id(a.id, what, `${at}.id`),
      name: name(key.name, what, `${at}.resourceKey.name`),
      kind: name(key.adapterKindKey, what, `${at}.resourceKey.adapterKindKey`),
      collectorId: optionalId(a.collectorId, what, `${at}.collectorId`),
      collectorGroupId: optionalId(a.collectorGroupId, what, `${at}.collectorGroupId`),
    };
  });
}

/** `GET /api/adapterkinds` → `{"adapter-kind":[{"key":"VMWARE",…}]}`: the keys. */
export function parseAdapterKinds(root: unknown): string[] {
  const what = "adapter kinds";
  return list(root, what, ["adapter-kind", "adapterKind"]).map((item, i) => {
    const at = `adapter-kind[${i}]`;
    return name(object(item, what, at).key, what, `${at}.key`);
  });
}

/** `POST /api/auth/token/acquire` → `{"token","validity",…}`: only the token is kept. */
export function parseToken(root: unknown): string {
  const body = object(root, "token", "the answer");
  const token = body.token;
  // Printable ASCII only: it goes into a header, and a header must not carry CR/LF.
  if (typeof token !== "string" || !/^[\x21-\x7e]{8,4096}$/.test(token))
    throw invalid("token", "token", "is absent or not a printable string");
  return token;
}
