/**
 * `become` on a proxy: commands run as another user (root by default) through `sudo`, for the
 * proxies where root cannot log in and the SSH user is outside the engine's group. The sudo
 * password, when one is needed, goes on the channel's stdin, never on a command line: `sudo -S`
 * reads it one byte at a time up to the newline (sudo's own line reader), so whatever follows
 * on stdin (the engine's HTTP bytes, a CA's PEM) reaches the command untouched.
 */
import { SideloadError, oneLine } from "../errors.js";
import type { SshConnection } from "./connect.js";

/** How sudo lets this SSH user become `user` on one proxy, as found by `establishSudo`. */
export interface SudoAccess {
  /** Who the commands run as (`-u`). */
  user: string;
  /** `nopasswd`: `sudo -n` is enough; `password`: `sudo -S` with `password` on stdin. */
  mode: "nopasswd" | "password";
  /** The sudo password (mode `password`). A secret: never on a command line, never printed. */
  password?: string | undefined;
}

/** What the run knows of becoming another user on a proxy. */
export interface BecomeRequest {
  /** `--become-user`, the inventory's `becomeUser` / `ansible_become_user`; default root. */
  user: string;
  /** Known before connecting (inventory, `--become-password-stdin`, the environment). */
  password?: string | undefined;
  /** Asked for when sudo wants a password and none is known (a prompt in a terminal). */
  askPassword?: (() => Promise<string | undefined>) | undefined;
}

/** `value` as one single-quoted shell word. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command line that runs `command` (a shell command line, already quoted) as
 * `access.user`. With a password, `-k` ignores a cached sudo timestamp, so sudo always reads the
 * password line (else that line would reach the command as its input); `-p ''` writes no prompt.
 */
export function sudoCommand(access: SudoAccess, command: string): string {
  const user = shellQuote(access.user);
  return access.mode === "nopasswd"
    ? `sudo -n -u ${user} -- ${command}`
    : `sudo -S -k -p '' -u ${user} -- ${command}`;
}

/** What goes on a sudo channel's stdin before the command's own input: the password line. */
export function sudoPreamble(access: SudoAccess): string {
  return access.mode === "password" ? `${access.password ?? ""}\n` : "";
}

/** sudo's own refusals, as it words them on stderr (sudo 1.8 and 1.9). */
const sudoRefusals: [RegExp, string][] = [
  [/incorrect password|sorry, try again/i, "refused the sudo password"],
  [/a password is required/i, "wants a password"],
  [/is not in the sudoers file|is not allowed to (execute|run)|may not run sudo/i, "does not allow it"],
  [/must have a tty|a terminal is required/i, "wants a terminal (requiretty)"],
  // The shell's word for a missing sudo (`sudo: docker: command not found` is sudo's own, about
  // the command: not a refusal).
  [/(?:^|\s)(?:\S*sh: (?:\d+: )?(?:line \d+: )?)sudo: (?:command )?not found/i, "has no sudo"],
];

/** Why sudo refused, from its stderr; undefined when the text is not a sudo refusal. */
export function sudoRefusal(stderr: string): string | undefined {
  return sudoRefusals.find(([pattern]) => pattern.test(stderr))?.[1];
}

/** BECOME_FAILED for a proxy, with what to try next. */
export function becomeError(
  where: string,
  sshUser: string,
  access: Pick<SudoAccess, "user">,
  why: string,
  detail: string,
): SideloadError {
  const wrongPassword = why === "refused the sudo password";
  return new SideloadError(
    "BECOME_FAILED",
    `${where}: sudo ${why} (${sshUser} becoming ${access.user}${detail === "" ? "" : `: ${oneLine(detail, 200)}`})`,
    {
      hint: wrongPassword
        ? `check the sudo password of ${sshUser} (--become-password-stdin, MP_SIDELOAD_BECOME_PASSWORD or ansible_become_password)`
        : why === "wants a password"
          ? "give the sudo password: --become-password-stdin, MP_SIDELOAD_BECOME_PASSWORD, ansible_become_password, or run in a terminal to be asked"
          : `let ${sshUser} run commands as ${access.user} with sudo on the proxy (sudoers), or connect as root`,
    },
  );
}

/**
 * Find how sudo lets the SSH user become `request.user`: `sudo -n true` first (NOPASSWD needs
 * nothing more); when sudo wants a password, the known one (else the one asked for) is checked
 * once with `sudo -S -k true`, so that a wrong password is one BECOME_FAILED here rather than an
 * engine channel failing later. Costs one or two short commands per connection.
 */
export async function establishSudo(
  connection: SshConnection,
  request: BecomeRequest,
  context: { where: string; sshUser: string },
): Promise<SudoAccess> {
  const fail = (why: string, detail: string) =>
    becomeError(context.where, context.sshUser, request, why, detail);
  const probe = await connection.exec(sudoCommand({ user: request.user, mode: "nopasswd" }, "true"));
  if (probe.code === 0) return { user: request.user, mode: "nopasswd" };
  const why = sudoRefusal(probe.stderr);
  if (why !== "wants a password") throw fail(why ?? `exited ${probe.code ?? "?"}`, probe.stderr.trim());
  const password = request.password ?? (await request.askPassword?.());
  if (password === undefined || password === "") throw fail("wants a password", "none was given");
  const access: SudoAccess = { user: request.user, mode: "password", password };
  const check = await connection.exec(sudoCommand(access, "true"), sudoPreamble(access));
  if (check.code === 0) return access;
  throw fail(sudoRefusal(check.stderr) ?? `exited ${check.code ?? "?"}`, check.stderr.trim());
}
