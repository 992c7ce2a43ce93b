/**
 * The relay's line in one proxy's `/etc/hosts`, applied over the proxy's SSH connection as root
 * (root login, or become): read with the checks that come before any change, written back only
 * if the file is still what was read (a compare-and-swap under `flock` on /etc, so two runs never
 * lose each other's line), through a temporary file with the same owner and mode renamed over
 * it, or, where /etc/hosts is a bind mount and the rename fails, appended to or truncated in
 * place. The text itself is changed by the pure functions of hosts-file.ts.
 */
import type { Duplex } from "node:stream";
import { SideloadError, oneLine } from "../errors.js";
import type { ScriptResult } from "../session/proxy-session.js";
import { addRelayLine, relayMarks, removeRelayLines, type RelayMark } from "./hosts-file.js";

/** What the proxy side needs: a script as root (or become). */
export interface HostsAccess {
  execScript(script: string, args: string[], stdin?: string): Promise<ScriptResult>;
  /** The file; /etc/hosts unless a test says otherwise. */
  hostsFile?: string | undefined;
}

const fileOf = (access: HostsAccess) => access.hostsFile ?? "/etc/hosts";

/** /etc/hosts as read, with what the checks found. */
export interface HostsState {
  text: string;
  /** `cksum` of the file as read: the write goes ahead only if it is still this. */
  sum: string;
  /** The keepers (pids) of marked lines whose process still lives: those runs are alive. */
  alive: Set<number>;
  /** Of the ports asked about, those something listens on at the proxy's loopback. */
  portsInUse: number[];
}

const notRoot = 77;
const changed = 75;

/** $1 the file. Exit 77 unless root; which of the other args (ports) are listened on; live keepers; cksum; the file. */
const readScript = String.raw`[ "$(id -u)" = 0 ] || exit 77
f=$1; shift
for p in "$@"; do
  h=$(printf '%04X' "$p")
  if grep -Eq "^ *[0-9]+: (0100007F|00000000|0{32}|0{16}FFFF00000100007F):$h [0-9A-F]+:[0-9A-F]+ 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null; then echo "inuse $p"; fi
done
for k in $(sed -n 's/^127\.0\.0\.1 [^ ]* # mp-sideload relay [A-Za-z0-9-]* keeper=\([0-9]*\).*$/\1/p' "$f"); do
  if [ -r "/proc/$k/cmdline" ] && [ "$(tr '\000' ' ' < "/proc/$k/cmdline")" = "cat " ]; then echo "alive $k"; fi
done
echo "sum $(cksum < "$f")"
echo ---
exec cat "$f"`;

/** $1 the file, $2 the cksum read, $3 the length read; stdin the new file. Exit 75: the file changed since. */
const writeScript = String.raw`[ "$(id -u)" = 0 ] || exit 77
f=$1; shift; d=$(dirname "$f")
t=$(mktemp "$d/.hosts.mp-sideload.XXXXXX") || exit 1
cat > "$t" || { rm -f "$t"; exit 1; }
if command -v flock >/dev/null 2>&1; then exec 9<"$d"; flock -w 20 9 || { rm -f "$t"; exit 1; }; fi
[ "$(cksum < "$f")" = "$1" ] || { rm -f "$t"; exit 75; }
chown "$(stat -c %u:%g "$f")" "$t" && chmod "$(stat -c %a "$f")" "$t" || { rm -f "$t"; exit 1; }
if mv -f "$t" "$f" 2>/dev/null; then exit 0; fi
n=$(wc -c < "$t")
if [ "$n" -gt "$2" ] && [ "$(head -c "$2" "$t" | cksum)" = "$1" ]; then
  tail -c +"$(($2 + 1))" "$t" >> "$f"; rc=$?
elif [ "$n" -lt "$2" ] && [ "$(head -c "$n" "$f" | cksum)" = "$(cksum < "$t")" ]; then
  truncate -s "$n" "$f"; rc=$?
else
  cat "$t" > "$f"; rc=$?
fi
rm -f "$t"; exit $rc`;

/** Read /etc/hosts with the checks; `ports` are the forward ports to look for on the loopback. */
export async function readHosts(access: HostsAccess, ports: number[], where: string): Promise<HostsState> {
  const read = await access.execScript(readScript, [fileOf(access), ...ports.map(String)]);
  if (read.code === notRoot) throw needsRoot(where);
  const split = read.stdout.indexOf("---\n");
  if (read.code !== 0 || split < 0) throw hostsFailed(where, "read", read);
  const head = read.stdout.slice(0, split).split("\n");
  const value = (tag: string) =>
    head.filter((l) => l.startsWith(`${tag} `)).map((l) => l.slice(tag.length + 1));
  return {
    text: read.stdout.slice(split + 4),
    sum: value("sum")[0] ?? "",
    alive: new Set(value("alive").map(Number)),
    portsInUse: value("inuse").map(Number),
  };
}

/**
 * Change /etc/hosts with `change` applied to its current text, read again and re-applied when
 * another writer got there in between. Returns the state written from.
 */
export async function changeHosts(
  access: HostsAccess,
  where: string,
  change: (state: HostsState) => string,
  first?: HostsState,
): Promise<HostsState> {
  let state = first ?? (await readHosts(access, [], where));
  for (let attempt = 1; ; attempt++) {
    const text = change(state);
    if (text === state.text) return state;
    const length = Buffer.byteLength(state.text);
    const written = await access.execScript(writeScript, [fileOf(access), state.sum, String(length)], text);
    if (written.code === 0) return state;
    if (written.code === notRoot) throw needsRoot(where);
    if (written.code !== changed || attempt >= 5) throw hostsFailed(where, "write", written);
    state = await readHosts(access, [], where);
  }
}

/** What adding the line did: the other runs' stale lines it removed and the entries set aside. */
export interface HostsAdded {
  stale: RelayMark[];
  setAside: string[];
}

/**
 * Add `mark`'s line, removing on the way the lines of runs whose keeper is gone (killed runs):
 * a live run's line is never touched.
 */
export async function addHostsLine(
  access: HostsAccess,
  mark: RelayMark,
  where: string,
  first?: HostsState,
): Promise<HostsAdded> {
  const outcome: HostsAdded = { stale: [], setAside: [] };
  await changeHosts(
    access,
    where,
    (state) => {
      const stale = relayMarks(state.text).filter(
        (m) => m.runId !== mark.runId && !state.alive.has(m.keeper),
      );
      const ids = new Set(stale.map((m) => m.runId));
      const cleaned = removeRelayLines(state.text, (id) => ids.has(id) || id === mark.runId);
      const added = addRelayLine(cleaned, mark);
      outcome.stale = stale;
      outcome.setAside = added.setAside;
      return added.text;
    },
    first,
  );
  return outcome;
}

/** Remove `runId`'s lines (and put back what they set aside). */
export async function removeHostsLine(access: HostsAccess, runId: string, where: string): Promise<void> {
  await changeHosts(access, where, (state) => removeRelayLines(state.text, (id) => id === runId));
}

/** Remove the lines of killed runs (doctor, or a run that relays nothing there); which they were. */
export async function removeStaleHostsLines(access: HostsAccess, where: string): Promise<RelayMark[]> {
  let stale: RelayMark[] = [];
  await changeHosts(access, where, (state) => {
    stale = relayMarks(state.text).filter((m) => !state.alive.has(m.keeper));
    const ids = new Set(stale.map((m) => m.runId));
    return removeRelayLines(state.text, (id) => ids.has(id));
  });
  return stale;
}

/**
 * $@ keepers of this run's earlier connections. For each that still lives (a `cat` whose parent
 * is sshd's process for that connection), end that process, and with it the connection sshd
 * still holds after a silent drop: its remote forward (which would leave the relay's port in use)
 * and its keeper. Waits up to 5 s for each to go.
 */
const endConnectionsScript = String.raw`[ "$(id -u)" = 0 ] || exit 77
for k in "$@"; do
  [ -r "/proc/$k/cmdline" ] && [ "$(tr '\000' ' ' < "/proc/$k/cmdline")" = "cat " ] || continue
  p=$(sed 's/^.*) [A-Za-z] \([0-9]*\) .*$/\1/' "/proc/$k/stat")
  case "$(tr '\000' ' ' < "/proc/$p/cmdline" 2>/dev/null)" in sshd*) ;; *) continue ;; esac
  kill "$p" 2>/dev/null || continue
  i=0; while [ -e "/proc/$p" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  echo "ended $k"
done`;

/**
 * End the connections of this run that sshd still holds after a silent drop, by their keepers'
 * pids (the run's own, never a file's); the keepers whose connection was ended.
 */
export async function endEarlierConnections(
  access: HostsAccess,
  keepers: number[],
  where: string,
): Promise<number[]> {
  if (keepers.length === 0) return [];
  const ended = await access.execScript(endConnectionsScript, keepers.map(String));
  if (ended.code === notRoot) throw needsRoot(where);
  if (ended.code !== 0) {
    throw new SideloadError(
      "RELAY_HOSTS_FAILED",
      `${where}: cannot end this run's earlier connection, which sshd still holds (exit ${ended.code ?? "?"}: ${oneLine(ended.stderr, 200) || "no message"})`,
      { hint: "its forward and keeper go when sshd notices the connection is gone; run again then" },
    );
  }
  return [...ended.stdout.matchAll(/^ended (\d+)$/gm)].map((m) => Number(m[1]));
}

/**
 * The run's keeper on the proxy: a `cat` waiting on its channel's input, whose pid the marked
 * line carries. It ends with the channel, so with the run's connection: a line whose keeper is
 * gone belongs to a run that was killed or lost its connection.
 */
export async function startKeeper(connection: {
  execStream(command: string): Promise<Duplex>;
}): Promise<{ pid: number; stop: () => void }> {
  const channel: Duplex = await connection.execStream(`sh -c 'echo $$; exec cat >/dev/null'`);
  const pid = await new Promise<number>((resolve, reject) => {
    let text = "";
    const onData = (chunk: Buffer) => {
      text += chunk.toString("utf8");
      const line = /^(\d+)\n/.exec(text);
      if (line) {
        channel.off("data", onData);
        resolve(Number(line[1]));
      } else if (text.length > 64) reject(new Error(`the keeper said ${oneLine(text, 64)}`));
    };
    channel.on("data", onData);
    channel.once("close", () => reject(new Error("the keeper's channel closed")));
    channel.once("error", reject);
  });
  channel.resume();
  return { pid, stop: () => channel.end() };
}

function needsRoot(where: string): SideloadError {
  return new SideloadError(
    "RELAY_NEEDS_ROOT",
    `${where}: the relay must change /etc/hosts, which needs root, and the SSH user is not root`,
    {
      hint: "log in as root (--ssh-user root), or turn become on for the proxy (--become, ansible_become)",
    },
  );
}

function hostsFailed(where: string, what: string, result: ScriptResult): SideloadError {
  return new SideloadError(
    "RELAY_HOSTS_FAILED",
    `${where}: cannot ${what} /etc/hosts (exit ${result.code ?? "?"}: ${oneLine(result.stderr, 200) || "no message"})`,
    { hint: "check that /etc is writable on the proxy and that /etc/hosts is a regular file" },
  );
}
