import { readPak, type Pak } from "../../pak/read-pak.js";
import { parseCommandArgs, onePositional } from "../args.js";
import { renderPakHuman, renderPakJson } from "../render/pak.js";
import type { CommandContext, CommandResult } from "../results.js";

const help = `Usage: mp-sideload inspect <pak> [--json] [--default-registry HOST[:PORT]]

Show each adapter of a management pack and the exact image reference its cloud proxies look up.
  --json                      one JSON document on stdout
  --default-registry HOST     the proxies' default registry, for a pak whose .conf names no REGISTRY
  --debug                     stack traces on errors
`;

/** The inspect command's result: the pak as read. */
export async function inspect(file: string, defaultRegistry?: string): Promise<Pak> {
  return readPak(file, { defaultRegistry });
}

export async function run({ argv, terminal }: CommandContext): Promise<CommandResult> {
  const { values, positionals } = parseCommandArgs("inspect", argv, {
    json: { type: "boolean" },
    "default-registry": { type: "string" },
    debug: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    terminal.out(help);
    return { kind: "shown" };
  }
  const file = onePositional("inspect", positionals, "pak file");
  const pak = await inspect(file, values["default-registry"]);
  terminal.out(values.json ? renderPakJson(pak) : renderPakHuman(pak));
  return { kind: "inspected", pak };
}
