/**
 * A Proxy from a host's combined Ansible variables. Where Ansible has two names for one
 * setting, the one its ssh connection plugin (and sudo become plugin) takes wins: the plugin
 * reads its `vars:` list in order and keeps the last one set, so `ansible_ssh_host` beats
 * `ansible_host`, `ansible_ssh_port` beats `ansible_port`, `ansible_ssh_user` beats
 * `ansible_user` (PlayContext's MAGIC_VARIABLE_MAPPING agrees: it lists the ssh names first).
 */
import { SideloadError, quote } from "../errors.js";
import type { HostVars } from "./ansible-vars.js";
import { ansibleBoolean } from "./ansible-syntax.js";
import { checkHost, checkPort, checkUser, type Become, type Proxy } from "./proxy.js";
import { VaultedValue } from "./yaml-text.js";

/** The variable names of each setting, lowest precedence first (as the plugins list them). */
export const ansibleNames = {
  host: ["ansible_host", "ansible_ssh_host"],
  port: ["ansible_port", "ansible_ssh_port"],
  user: ["ansible_user", "ansible_ssh_user"],
  identity: ["ansible_private_key_file", "ansible_ssh_private_key_file"],
  password: ["ansible_password", "ansible_ssh_pass", "ansible_ssh_password"],
  become: ["ansible_become"],
  becomeMethod: ["ansible_become_method"],
  becomeUser: ["ansible_become_user", "ansible_sudo_user"],
  becomePassword: ["ansible_become_password", "ansible_become_pass", "ansible_sudo_pass"],
  dockerSocket: ["mp_sideload_docker_socket"],
} as const;

/** The value of a setting and the variable and file it came from, or undefined. */
export function pick(
  hv: HostVars,
  names: readonly string[],
): { value: unknown; name: string; file: string } | undefined {
  for (let i = names.length - 1; i >= 0; i--) {
    const name = names[i] ?? "";
    const value = hv.vars[name];
    if (value !== undefined && value !== null) return { value, name, file: hv.origins[name] ?? "" };
  }
  return undefined;
}

/** A setting as text: strings and numbers; refused when vaulted, templated or of another type. */
export function text(hv: HostVars, names: readonly string[], where: string): string | undefined {
  const found = pick(hv, names);
  if (found === undefined) return undefined;
  const { value, name, file } = found;
  if (value instanceof VaultedValue) {
    throw new SideloadError(
      "INVENTORY_VAULT",
      `${where}: ${name} is encrypted with ansible-vault (in ${file})`,
      {
        hint: "decrypt it or pass the value another way",
      },
    );
  }
  if (typeof value !== "string" && typeof value !== "number") {
    throw new SideloadError("INVENTORY_INVALID", `${where}: ${name} must be a string (in ${file})`, {
      hint: "check the inventory",
    });
  }
  const s = String(value);
  if (/\{\{|\{%/.test(s)) {
    throw new SideloadError(
      "INVENTORY_INVALID",
      `${where}: ${name} is a Jinja2 template (in ${file}); mp-sideload does not evaluate templates`,
      { hint: `give ${name} its value, e.g. with ansible-inventory -i INVENTORY --host NAME` },
    );
  }
  return s;
}

/** Become settings; undefined when none is set. Only sudo is supported. */
export function becomeOf(hv: HostVars, where: string): Become | undefined {
  const flag = pick(hv, ansibleNames.become);
  const enabled = flag === undefined ? false : ansibleBoolean(flag.value);
  if (enabled === undefined) {
    throw new SideloadError(
      "INVENTORY_INVALID",
      `${where}: ansible_become ${quote(String(flag?.value))} is not true or false`,
      { hint: "e.g. ansible_become=true" },
    );
  }
  const method = text(hv, ansibleNames.becomeMethod, where);
  const user = text(hv, ansibleNames.becomeUser, where);
  const password = text(hv, ansibleNames.becomePassword, where);
  if (!enabled && user === undefined && password === undefined) return undefined;
  if (method !== undefined && method !== "sudo") {
    if (!enabled) return undefined;
    throw new SideloadError(
      "INVENTORY_INVALID",
      `${where}: ansible_become_method ${quote(method)} is not supported; mp-sideload becomes root with sudo only`,
      { hint: "use ansible_become_method=sudo for this proxy, or give its user access to the Docker engine" },
    );
  }
  return {
    enabled,
    method: "sudo",
    ...(user === undefined ? {} : { user: checkUser(user, `${where}: ansible_become_user`) }),
    ...(password === undefined ? {} : { password }),
  };
}

/** The connection fields Ansible's ssh plugin would use for this host. */
export function ansibleConnection(
  name: string,
  hv: HostVars,
  where: string,
): Pick<Proxy, "host" | "port" | "user" | "identity" | "password"> & { portGiven: boolean } {
  const host = text(hv, ansibleNames.host, where) ?? name;
  const portFound = pick(hv, ansibleNames.port);
  const portText = text(hv, ansibleNames.port, where);
  const user = text(hv, ansibleNames.user, where);
  return {
    host: checkHost(host, where),
    port: portText === undefined ? 22 : checkPort(portText.trim(), `${where}: ${portFound?.name ?? "port"}`),
    user: user === undefined ? "" : checkUser(user, where),
    identity: text(hv, ansibleNames.identity, where),
    password: text(hv, ansibleNames.password, where),
    portGiven: portText !== undefined,
  };
}
