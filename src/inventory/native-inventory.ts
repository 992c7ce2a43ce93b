/**
 * mp-sideload's own inventory format: `proxies` (a list or a map) and `defaults`, with only
 * the keys below; anything else is a typo, refused with the nearest valid key.
 */
import { editDistance, nearest } from "../nearest.js";
import { SideloadError, quote } from "../errors.js";
import { checkDockerSocket, checkHost, checkPort, checkUser, jumpsFrom, type Proxy } from "./proxy.js";

type Vars = Record<string, unknown>;

/** The keys of mp-sideload's native inventory; anything else is a typo to report. */
export const nativeKeys = {
  top: ["proxies", "defaults"],
  proxy: [
    "name",
    "host",
    "port",
    "user",
    "identity",
    "dockerSocket",
    "groups",
    "jump",
    "become",
    "becomeUser",
  ],
  defaults: ["port", "user", "identity", "dockerSocket", "jump", "become", "becomeUser"],
};

/** Does a YAML document look like a native inventory with a typo (not an Ansible one)? */
export function nativeLookalike(doc: Vars): string | undefined {
  for (const [key, value] of Object.entries(doc)) {
    const near = nativeKeys.top.some((k) => editDistance(key.toLowerCase(), k) <= 2);
    if (Array.isArray(value) || (near && (isObject(value) || isYamlNull(value)) && !isAnsibleGroup(value))) {
      return key;
    }
  }
  return undefined;
}

function isAnsibleGroup(value: unknown): boolean {
  return isObject(value) && Object.keys(value).every((k) => ["hosts", "vars", "children"].includes(k));
}

/** Parse a native inventory document (read with the failsafe schema: every scalar a string). */
export function parseNative(doc: Vars, label: string, maxProxies: number, tooMany: () => never): Proxy[] {
  checkKeys(doc, nativeKeys.top, label);
  const defaults = isYamlNull(doc.defaults) ? {} : doc.defaults;
  if (isObject(defaults)) checkKeys(defaults, nativeKeys.defaults, `${label}: defaults`);
  else {
    throw new SideloadError("INVENTORY_INVALID", `${label}: "defaults" must be a mapping`, {
      hint: "e.g. defaults: {user: root}",
    });
  }
  const list = doc.proxies;
  const entries: [string | undefined, unknown][] = Array.isArray(list)
    ? list.map((item) => [undefined, item])
    : isObject(list)
      ? Object.entries(list)
      : [];
  if (entries.length > maxProxies) tooMany();
  if (entries.length === 0) {
    throw new SideloadError("INVENTORY_INVALID", `${label}: "proxies" lists no proxies`, {
      hint: "proxies:\n  - {name: cp-01, host: 10.0.0.5}",
    });
  }
  return entries.map(([key, item], index) => {
    const where = `${label}: proxies[${key ?? index}]`;
    if (!isObject(item))
      throw new SideloadError("INVENTORY_INVALID", `${where} must be a mapping`, {
        hint: "e.g. {host: 10.0.0.5}",
      });
    checkKeys(item, nativeKeys.proxy, where);
    const name = key ?? str(item.name, where, "name") ?? str(item.host, where, "host");
    if (!name)
      throw new SideloadError("INVENTORY_INVALID", `${where} has neither name nor host`, {
        hint: "e.g. {host: 10.0.0.5}",
      });
    const groups = item.groups ?? [];
    if (!Array.isArray(groups) || !groups.every((g) => typeof g === "string")) {
      throw new SideloadError("INVENTORY_INVALID", `${where}: groups must be a list of names`, {
        hint: "e.g. groups: [east]",
      });
    }
    return nativeProxy(name, { ...defaults, ...item }, groups, where);
  });
}

function str(value: unknown, where: string, key: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  throw new SideloadError("INVENTORY_INVALID", `${where}: ${key} must be a string`, {
    hint: "check the inventory",
  });
}

function nativeProxy(name: string, vars: Vars, groups: string[], where: string): Proxy {
  const host = str(vars.host, where, "host") ?? name;
  const port = vars.port;
  const user = str(vars.user, where, "user");
  const dockerSocket = checkDockerSocket(str(vars.dockerSocket, where, "dockerSocket"), where);
  const jumpSpecs = jumpsFrom(isYamlNull(vars.jump) ? undefined : vars.jump, [], where);
  const become = nativeBecome(vars, where);
  return {
    name,
    host: checkHost(host, where),
    port: port === undefined ? 22 : checkPort(port, where),
    user: user === undefined ? "" : checkUser(user, where),
    identity: str(vars.identity, where, "identity"),
    dockerSocket,
    groups,
    ...(jumpSpecs === undefined ? {} : { jumpSpecs }),
    ...(port === undefined ? { defaulted: ["port"] as ("user" | "port")[] } : {}),
    ...(become === undefined ? {} : { become }),
  };
}

/** `become: true` (and `becomeUser`), per proxy or in defaults. */
function nativeBecome(vars: Vars, where: string): Proxy["become"] {
  const flag = vars.become;
  if (flag === undefined || isYamlNull(flag)) {
    if (vars.becomeUser === undefined) return undefined;
  } else if (flag !== "true" && flag !== "false") {
    throw new SideloadError(
      "INVENTORY_INVALID",
      `${where}: become ${quote(JSON.stringify(flag))} is not true or false`,
      {
        hint: "e.g. become: true",
      },
    );
  }
  const user = str(vars.becomeUser, where, "becomeUser");
  return {
    enabled: flag === "true",
    method: "sudo",
    ...(user === undefined ? {} : { user: checkUser(user, `${where}: becomeUser`) }),
  };
}

/** Refuse keys the native format does not have, naming the nearest one it does. */
export function checkKeys(map: Vars, allowed: string[], where: string): void {
  for (const key of Object.keys(map)) {
    if (allowed.includes(key)) continue;
    const close = nearest(key, allowed);
    const prefix = allowed.find(
      (k) => key.length >= 4 && k.toLowerCase().startsWith(key.slice(0, 4).toLowerCase()),
    );
    const suggested = close ?? prefix;
    const suggestion = suggested !== undefined ? `did you mean ${quote(suggested)}? ` : "";
    throw new SideloadError("INVENTORY_INVALID", `${where}: unknown key ${quote(key)}`, {
      hint: `${suggestion}the keys here are ${allowed.join(", ")}`,
    });
  }
}

/** A YAML null as the failsafe schema reads it (an empty value, `~` or `null`). */
export function isYamlNull(value: unknown): boolean {
  return value === null || value === undefined || value === "" || value === "~" || value === "null";
}

/** A YAML mapping (not a list, not a scalar). */
export function isObject(value: unknown): value is Vars {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
