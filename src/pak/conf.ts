import { SideloadError, quote } from "../errors.js";

/** One `KEY=VALUE` setting of an adapter `.conf`, with the line it came from. */
export interface ConfSetting {
  value: string;
  line: number;
}

/** The parsed `.conf`: every key kept, in file order. */
export type AdapterConf = ReadonlyMap<string, ConfSetting>;

const keyPattern = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/**
 * Parse an adapter `<KIND>.conf` (`KEY=VALUE` lines, as `mp-build` writes them).
 * Tolerates a UTF-8 BOM, CRLF, blank lines, `#` comment lines and spaces around `=`;
 * rejects duplicate keys, lines without `=`, and values holding control characters.
 *
 * @param text the file's text
 * @param where how to name the file in messages, e.g. `sample.pak: adapter.zip: MySQL.conf`
 */
export function parseAdapterConf(text: string, where: string): AdapterConf {
  const settings = new Map<string, ConfSetting>();
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const eq = trimmed.indexOf("=");
    if (eq < 0) {
      throw new SideloadError("CONF_INVALID", `${where} line ${line}: ${quote(trimmed)} is not KEY=VALUE`, {
        hint: "each setting must look like DIGEST=sha256:…; check that the pak was built by mp-build",
      });
    }
    const key = trimmed.slice(0, eq).trim();
    const value = trimmed.slice(eq + 1).trim();
    if (!keyPattern.test(key)) {
      throw new SideloadError("CONF_INVALID", `${where} line ${line}: ${quote(key)} is not a valid key`, {
        hint: "keys are letters, digits and underscores, e.g. REPOSITORY",
      });
    }
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(value)) {
      throw new SideloadError(
        "CONF_INVALID",
        `${where} line ${line}: the value of ${key} has control characters`,
        {
          hint: "rebuild the pak with mp-build; the file looks damaged or tampered with",
        },
      );
    }
    const previous = settings.get(key);
    if (previous) {
      throw new SideloadError(
        "CONF_INVALID",
        `${where} line ${line}: ${key} is set again (first set on line ${previous.line})`,
        { hint: "a .conf must set each key once; rebuild the pak with mp-build" },
      );
    }
    settings.set(key, { value, line });
  });
  return settings;
}
