# shellcheck shell=bash
# Isolated proxies (`isolated up K`, `isolated down`): cloud proxies that cannot reach the
# registry, for `pull --relay`. Each has its sshd and dockerd in a network namespace of its own
# (no route but a veth pair to this machine, addresses of the lab's own namespaces only, no DNS)
# and a mount namespace of its own whose /etc/hosts is a private file bind-mounted over it (as in
# a container: a rename over it fails) and whose /run holds /run/docker.sock for its engine.
# dockerd starts under `nsenter --net=…`: `ip netns exec` would remount /sys and leave dockerd
# without its cgroups. Isolated proxy J: sshd on 10.234.N.(4J+2):22, reached from 10.234.N.(4J+1).

iso_tag() { printf '%s' "$LAB" | md5sum | cut -c1-6; }
iso_ns() { echo "mpsl-$(iso_tag)-i$1"; }
iso_veth() { echo "mpi$(iso_tag)$1"; }
# One /24 per lab, from its port range's hundreds: labs side by side (each has BASE..BASE+99) get
# different networks (BASE % 250 gave 42200 and 43200 the same one).
iso_net() { echo "10.234.$((BASE_PORT / 100 % 250))"; }
iso_ip() { echo "$(iso_net).$((4 * $1 + 2))"; }
iso_dir() { echo "$LAB/isolated/iso-$1"; }

# iso_sshd_config J: sshd on the namespace's address, remote forwarding allowed (the relay's).
iso_sshd_config() {
  local j=$1 dir
  dir=$(iso_dir "$j")
  cat >"$dir/sshd_config" <<EOF
Port 22
ListenAddress $(iso_ip "$j")
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/sshd.pid
PermitRootLogin yes
PubkeyAuthentication yes
AuthorizedKeysFile $LAB/client/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
StrictModes no
AllowStreamLocalForwarding yes
AllowTcpForwarding yes
X11Forwarding no
Subsystem sftp internal-sftp
PrintMotd no
MaxSessions 64
LogLevel DEBUG1
EOF
}

# iso_start J: the namespaces, the veth pair, the private /etc/hosts, dockerd and sshd.
iso_start() {
  local j=$1 dir ns veth run
  dir=$(iso_dir "$j") ns=$(iso_ns "$j") veth=$(iso_veth "$j") run="$RUN/i$j"
  pid_alive "$dir/sshd.pid" && return 0
  mkdir -p "$dir/data" "$run/exec" "$dir/host-run"
  [ -f "$dir/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "iso-$j" -f "$dir/ssh_host_ed25519_key"
  iso_sshd_config "$j"
  # The proxy's own /etc/hosts: what the tests compare byte for byte after a relayed pull.
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n# isolated proxy %s of the lab\n' "$j" >"$dir/hosts"
  cp "$dir/hosts" "$dir/hosts.orig"
  ip netns list | grep -qw "$ns" || ip netns add "$ns"
  if ! ip link show "$veth" >/dev/null 2>&1; then
    # Another lab's veth with this address would take this proxy's traffic.
    ! ip -o -4 addr show | grep -qF " $(iso_net).$((4 * j + 1))/30 " ||
      die "another lab's isolated proxy holds $(iso_net).$((4 * j + 1)); give this lab another MP_LAB_PORT"
    ip link add "$veth" type veth peer name "${veth}p"
    ip link set "${veth}p" netns "$ns"
    ip addr add "$(iso_net).$((4 * j + 1))/30" dev "$veth"
    ip link set "$veth" up
  fi
  nsenter --net="/run/netns/$ns" sh -euc '
    ip link set lo up
    ip addr replace "$2/30" dev "$1"
    ip link set "$1" up' sh "${veth}p" "$(iso_ip "$j")"
  # shellcheck disable=SC2016
  nsenter --net="/run/netns/$ns" unshare --mount --propagation private -- sh -euc '
    dir=$1 run=$2 hostrun=$3 lab_user=$4
    mount --bind "$dir/hosts" /etc/hosts
    mount --rbind /run "$hostrun"
    mount -t tmpfs -o mode=0755,size=16m mpsl-iso-run /run
    mkdir -p /run/sshd "$run"
    mount --bind "$hostrun/${run#/run/}" "$run"
    umount -l "$hostrun"
    ln -s "$run/docker.sock" /run/docker.sock
    setsid dockerd --storage-driver vfs --iptables=false --ip6tables=false --bridge=none \
      --data-root "$dir/data" --exec-root "$run/exec" --host "unix://$run/docker.sock" \
      --pidfile "$run/docker.pid" --group "$lab_user" >>"$dir/docker.log" 2>&1 </dev/null &
    exec /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"' sh "$dir" "$run" "$dir/host-run" "$LAB_USER" ||
    { tail -20 "$dir/sshd.log" >&2; die "isolated proxy $j did not start"; }
  wait_for 30 docker -H "unix://$run/docker.sock" version ||
    { tail -20 "$dir/docker.log" >&2; die "the engine of isolated proxy $j did not start"; }
  wait_for 10 bash -c "exec 3<>/dev/tcp/$(iso_ip "$j")/22" || die "sshd of isolated proxy $j does not listen"
}

# iso_client_files K: known_hosts lines and an inventory (client/inventory-isolated.yaml).
iso_client_files() {
  local k=$1 j
  : >"$LAB/client/known_hosts-isolated"
  {
    echo "# the lab's isolated proxies: no route to the registry"
    echo "defaults:"
    echo "  user: root"
    echo "  identity: $LAB/client/id_ed25519"
    echo "proxies:"
  } >"$LAB/client/inventory-isolated.yaml"
  for j in $(seq 1 "$k"); do
    echo "$(iso_ip "$j") $(cut -d' ' -f1,2 "$(iso_dir "$j")/ssh_host_ed25519_key.pub")" >>"$LAB/client/known_hosts-isolated"
    printf '  - name: iso-%s\n    host: %s\n' "$j" "$(iso_ip "$j")" >>"$LAB/client/inventory-isolated.yaml"
  done
  echo "MP_LAB_ISOLATED=$k" >"$LAB/isolated/isolated.env"
}

# isolated up K | down | hosts J
cmd_isolated() {
  local j k
  case ${1:-} in
    up)
      k=${2:-2}
      { [[ $k =~ ^[0-9]+$ ]] && [ "$k" -ge 1 ] && [ "$k" -le 16 ]; } || die "isolated up takes a count from 1 to 16"
      need_root
      [ -f "$LAB/client/id_ed25519" ] || die "bring the lab up first (scripts/lab.sh up)"
      for j in $(seq 1 "$k"); do iso_start "$j"; done
      iso_client_files "$k"
      log "isolated: $k proxies on $(iso_net).0/24, known_hosts: $LAB/client/known_hosts-isolated"
      ;;
    down) iso_down ;;
    *) die "isolated takes up K or down" ;;
  esac
}

# isolated-ns J: the name of isolated proxy J's network namespace (for the tests' faults).
cmd_isolated_ns() {
  [ -d "$(iso_dir "${1:-0}")" ] || die "no isolated proxy ${1:-?}"
  iso_ns "$1"
}

# iso_down: stop the isolated proxies by pid files, remove the namespaces and veths made here.
iso_down() {
  local dir j
  for dir in "$LAB"/isolated/iso-*; do
    [ -d "$dir" ] || continue
    j=${dir##*-}
    stop_pid "$dir/sshd.pid"
    stop_pid "$RUN/i$j/docker.pid"
    ip link del "$(iso_veth "$j")" 2>/dev/null || true
    ip netns del "$(iso_ns "$j")" 2>/dev/null || true
  done
  rm -rf "$LAB/isolated"
}
