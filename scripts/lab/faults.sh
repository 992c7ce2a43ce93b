# shellcheck shell=bash
# The fault switches on one proxy (I, 1-based), each a lab command: stop, start, pause (SIGSTOP:
# a hung engine) or resume its engine; stop or start its sshd; forbid stream-local forwarding;
# take its engine off the default socket; set DOCKER_HOST; give it a new host key; put its engine
# on a full disk. The registry's and the simulator's switches are in registry.sh and ops.sh,
# root-login in become.sh.

cmd_stop_engine() { proxy_arg "${1:-}" && stop_pid "$RUN/p$1/docker.pid"; }
cmd_start_engine() { proxy_arg "${1:-}" && start_engine "$(proxy_dir "$1")" "$RUN/p$1" && wait_engine "$(proxy_dir "$1")" "$RUN/p$1"; }
cmd_pause_engine() { proxy_arg "${1:-}" && pid_alive "$RUN/p$1/docker.pid" && kill -STOP "$(cat "$RUN/p$1/docker.pid")"; }
cmd_resume_engine() { proxy_arg "${1:-}" && pid_alive "$RUN/p$1/docker.pid" && kill -CONT "$(cat "$RUN/p$1/docker.pid")"; }
cmd_stop_sshd() { proxy_arg "${1:-}" && stop_pid "$(proxy_dir "$1")/sshd.pid"; }
cmd_start_sshd() { proxy_arg "${1:-}" && start_sshd "$1"; }

# switch_flag I FILE on|off: "off" leaves FILE (e.g. no-forwarding) in proxy I's folder
# (`forwarding`, `default-socket`).
switch_flag() {
  proxy_arg "${1:-}"
  case ${3:-} in
    on) rm -f "$(proxy_dir "$1")/$2" ;;
    off) touch "$(proxy_dir "$1")/$2" ;;
    *) die "${2#no-} takes on or off" ;;
  esac
  restart_sshd "$1"
}

# docker-host I VALUE|none: DOCKER_HOST=VALUE in proxy I's sessions, or not set.
cmd_docker_host() {
  proxy_arg "${1:-}"
  [[ ${2:-} =~ ^(none|[a-z]+://[A-Za-z0-9_./:-]+)$ ]] || die "docker-host takes none or a DOCKER_HOST value"
  if [ "$2" = none ]; then rm -f "$(proxy_dir "$1")/docker-host"; else echo "$2" >"$(proxy_dir "$1")/docker-host"; fi
  restart_sshd "$1"
}

# rekey I: a new host key for proxy I, which the client's known_hosts does not have.
cmd_rekey() {
  proxy_arg "${1:-}"
  rm -f "$(proxy_dir "$1")/ssh_host_ed25519_key"*
  ssh-keygen -q -t ed25519 -N '' -C "proxy-$1-rekeyed" -f "$(proxy_dir "$1")/ssh_host_ed25519_key"
  stop_pid "$(proxy_dir "$1")/sshd.pid"
  start_sshd "$1"
}

# small-disk I MB|off (engine fault tests: a full disk): proxy I's engine restarted on a tmpfs of
# MB MiB as its data root (its images are gone), or back on the lab's disk with off; sshd
# restarts too, so that the proxy's sessions see the mount.
cmd_small_disk() {
  local i=${1:-} size=${2:-} dir
  proxy_arg "$i"
  [[ $size =~ ^([0-9]+|off)$ ]] || die "small-disk takes a size in MiB, or off"
  dir=$(proxy_dir "$i")
  stop_pid "$RUN/p$i/docker.pid"
  if mountpoint -q "$dir/data"; then umount "$dir/data"; fi
  rm -rf "$dir/data" && mkdir -p "$dir/data"
  [ "$size" = off ] || mount -t tmpfs -o "size=${size}m" mpsl-small-disk "$dir/data"
  start_engine "$dir" "$RUN/p$i"
  wait_engine "$dir" "$RUN/p$i"
  restart_sshd "$i"
}

# small_disk_cleanup: unmount what small-disk mounted (down).
small_disk_cleanup() {
  local dir
  for dir in "$LAB"/proxies/proxy-*; do
    if mountpoint -q "$dir/data" 2>/dev/null; then umount "$dir/data" || true; fi
  done
}
