# shellcheck shell=bash disable=SC2034 # the variables here are used by the other pieces
# What every piece of the lab uses: its folders, ports and names (from MP_LAB_DIR and
# MP_LAB_PORT), messages, pid files, waiting, and the proxies' folders, ports and sockets.
# ROOT (the repository) is set by scripts/lab.sh before it sources this.

LAB=${MP_LAB_DIR:-$ROOT/.lab}
mkdir -p "$LAB"
LAB=$(cd "$LAB" && pwd)
BASE_PORT=${MP_LAB_PORT:-42200}
REG_PORT=$BASE_PORT
# Docker Engine treats 127.0.0.0/8 as an insecure registry range and skips TLS verification
# there, so the registry listens on IPv6 loopback under names that resolve only to ::1: the
# engines then verify its certificate for real. The first name is trusted (certs.d), the
# second is the same registry under a name no engine trusts, for the untrusted-CA case.
REG_HOST=registry.mp-sideload.test
UNTRUSTED_HOST=untrusted.mp-sideload.test
REGISTRY="$REG_HOST:$REG_PORT"
# A second registry process serving the same storage read-only and without auth: an image the
# proxies could pull anonymously (check-registry's "public").
PUBLIC_PORT=$((BASE_PORT + 99))
PUBLIC_REGISTRY="$REG_HOST:$PUBLIC_PORT"
HOSTS_MARK="# mp-sideload lab $LAB"
# Unix socket paths are limited to 108 bytes and containerd nests its socket under the engine's
# exec-root, so sockets and exec-roots live in a short runtime folder named after the lab.
RUN=/run/mpsl-$(printf '%s' "$LAB" | md5sum | cut -c1-8)
CERTS_D=/etc/docker/certs.d/$REGISTRY
PUBLIC_CERTS_D=/etc/docker/certs.d/$PUBLIC_REGISTRY
# The account for password logins, one per lab: labs running side by side must not reset each
# other's password (a system user is machine-wide).
LAB_USER=mplab-$(printf '%s' "$LAB" | md5sum | cut -c1-6)

log() { printf 'lab: %s\n' "$*" >&2; }
die() {
  printf 'lab: error: %s\n' "$*" >&2
  exit 1
}

need_root() { [ "$(id -u)" = 0 ] || die "the lab starts sshd and dockerd: run it as root"; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid FILE: stop the process whose pid FILE holds, wait for it, remove FILE.
stop_pid() {
  local file=$1 pid i
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true # a paused process (pause-engine) must wake to stop
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$file"
}

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
  local seconds=$1 i
  shift
  for i in $(seq 1 $((seconds * 10))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

proxy_dir() { echo "$LAB/proxies/proxy-$1"; }
proxy_port() { echo $((BASE_PORT + $1)); }
engine_sock() { echo "$RUN/p$1/docker.sock"; }
proxy_count() { find "$LAB/proxies" -mindepth 1 -maxdepth 1 -name 'proxy-*' 2>/dev/null | wc -l; }

# proxy_arg I: die unless I names a proxy of the lab.
proxy_arg() {
  { [[ ${1:-} =~ ^[0-9]+$ ]] && [ -d "$(proxy_dir "$1")" ]; } || die "no proxy ${1:-?} in the lab"
}

# The lab's hundred ports are inside Linux's ephemeral range (32768-60999): an outgoing
# connection of anything on this machine could take one just before the lab listens on it
# (EADDRINUSE). Reserving them keeps the kernel from handing them out; binding them stays allowed.
RESERVED_PORTS=/proc/sys/net/ipv4/ip_local_reserved_ports
ports_reserve() {
  [ -w "$RESERVED_PORTS" ] || return 0
  local current range="$BASE_PORT-$((BASE_PORT + 99))"
  current=$(cat "$RESERVED_PORTS")
  case ",$current," in *",$range,"*) return 0 ;; esac
  echo "${current:+$current,}$range" >"$RESERVED_PORTS"
}
ports_release() {
  [ -w "$RESERVED_PORTS" ] || return 0
  local kept range="$BASE_PORT-$((BASE_PORT + 99))"
  # grep finds nothing to keep when ours was the only range: not a failure (set -e, pipefail).
  kept=$(tr ',' '\n' <"$RESERVED_PORTS" | { grep -vxF "$range" || true; } | paste -sd, -)
  echo "$kept" >"$RESERVED_PORTS"
}
