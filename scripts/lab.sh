#!/usr/bin/env bash
# The mp-sideload lab: a private registry (TLS + basic auth) and N cloud proxies (sshd + Docker
# Engine each) on 127.0.0.1, all real software from Debian packages. Used by the end-to-end
# tests, the benchmarks and `npm run demo`.
#
#   scripts/lab.sh deps              install the Debian packages the lab needs (apt-get)
#   scripts/lab.sh up [N]            start (or complete) the lab with N proxies (default 3)
#   scripts/lab.sh down              stop what `up` started (by pid files) and remove its state
#   scripts/lab.sh status            show what is running
#   scripts/lab.sh env               print the lab's variables (for `eval`)
#   scripts/lab.sh stop-engine I | start-engine I    fault switches for proxy I (1-based)
#   scripts/lab.sh pause-engine I | resume-engine I  SIGSTOP/SIGCONT proxy I's dockerd: a hung engine
#   scripts/lab.sh stop-sshd I   | start-sshd I
#   scripts/lab.sh stop-registry | start-registry
#   scripts/lab.sh stop-ops | start-ops   the VCF Operations Suite API simulator
#   scripts/lab.sh forwarding I on|off  allow or forbid stream-local forwarding on proxy I
#   scripts/lab.sh default-socket I on|off  proxy I's engine at /var/run/docker.sock, or only in DOCKER_HOST
#   scripts/lab.sh docker-host I VALUE|none  set (or unset) DOCKER_HOST in proxy I's sessions
#   scripts/lab.sh rekey I           give proxy I a new host key (known_hosts keeps the old one)
#   scripts/lab.sh root-login I on|off  off: PermitRootLogin no on proxy I, sudo users instead (become)
#   scripts/lab.sh client-files      rewrite known_hosts and inventories from the proxies' current keys
#   scripts/lab.sh logs [PART]       print the logs (registry, proxy-I-sshd, proxy-I-engine, builder)
#   scripts/lab.sh big-image MB      push a one-layer image of MB MiB and write paks/big-MB.pak
#   scripts/lab.sh old-digests N     push N older builds of mp/test-adapter; print their digests, oldest first
#   scripts/lab.sh small-disk I MB|off  proxy I's engine on a tmpfs of MB MiB (a full disk), or not
#   scripts/lab.sh isolated up K | down  K proxies in network namespaces of their own (no route to
#                                    the registry, a private /etc/hosts): for pull --relay
#   scripts/lab.sh redirect up | down  a registry whose blobs redirect to a second server of the lab
#
# Environment: MP_LAB_DIR (default <repo>/.lab), MP_LAB_PORT (first port, default 42200:
# the registry; proxy I's sshd listens on MP_LAB_PORT+I).
# Stops only processes it started, by their pid files; never by name.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The pieces of the lab, in scripts/lab/, sourced in this order. common.sh comes first: its
# variables and helpers are everyone's. The others define functions (and a few variables of
# their own, from common.sh's), so their order is only the order of `up`. A new piece: a file
# in scripts/lab/ that opens with a comment saying what it holds, its name in this list, its
# commands in the table below and in the usage above, and its start in cmd_up (lifecycle.sh),
# its stop in cmd_down.
PIECES=(common deps secrets registry proxies images hub ops become faults client-files isolated redirect lifecycle)
for piece in "${PIECES[@]}"; do
  # shellcheck source=/dev/null
  . "$ROOT/scripts/lab/$piece.sh"
done

case ${1:-} in
  deps) cmd_deps ;;
  up) cmd_up "${2:-3}" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  logs) cmd_logs "${2:-}" ;;
  stop-engine) cmd_stop_engine "${2:-}" ;;
  start-engine) cmd_start_engine "${2:-}" ;;
  pause-engine) cmd_pause_engine "${2:-}" ;;
  resume-engine) cmd_resume_engine "${2:-}" ;;
  stop-sshd) cmd_stop_sshd "${2:-}" ;;
  start-sshd) cmd_start_sshd "${2:-}" ;;
  stop-registry) stop_registry ;;
  start-registry) start_registry ;;
  stop-ops) stop_ops ;;
  start-ops) cmd_start_ops ;;
  forwarding) switch_flag "${2:-}" no-forwarding "${3:-}" ;;
  default-socket) switch_flag "${2:-}" no-default-socket "${3:-}" ;;
  docker-host) cmd_docker_host "${2:-}" "${3:-}" ;;
  rekey) cmd_rekey "${2:-}" ;;
  root-login) cmd_root_login "${2:-}" "${3:-}" ;;
  client-files) cmd_client_files ;;
  big-image) cmd_big_image "${2:-}" ;;
  old-digests) cmd_old_digests "${2:-}" ;;
  small-disk) cmd_small_disk "${2:-}" "${3:-}" ;;
  isolated) cmd_isolated "${2:-}" "${3:-}" ;;
  isolated-ns) cmd_isolated_ns "${2:-}" ;;
  redirect) cmd_redirect "${2:-}" ;;
  *)
    # The usage: the comment block at the top of this file.
    awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
