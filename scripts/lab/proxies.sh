# shellcheck shell=bash
# The cloud proxies: each an sshd (in a mount namespace of its own, its engine at the default
# socket) and a Docker Engine of its own (vfs, no networking), all on 127.0.0.1, proxy I's sshd
# on MP_LAB_PORT+I. start_engine and wait_engine serve the builder engine (images.sh) too.

# Every engine's Docker Hub mirror: the public registry (hub.sh).
HUB_MIRROR="https://$PUBLIC_REGISTRY"

# start_engine DIR SOCK_DIR: a Docker Engine with its own everything, vfs storage, no networking.
start_engine() {
  local dir=$1 run=$2
  pid_alive "$run/docker.pid" && return 0
  mkdir -p "$dir/data" "$run/exec"
  setsid dockerd --storage-driver vfs --iptables=false --ip6tables=false --bridge=none \
    --data-root "$dir/data" --exec-root "$run/exec" --host "unix://$run/docker.sock" \
    --pidfile "$run/docker.pid" --group "$LAB_USER" --registry-mirror "$HUB_MIRROR" >>"$dir/docker.log" 2>&1 </dev/null &
}

# wait_engine DIR SOCK_DIR: until the engine that start_engine started answers.
wait_engine() {
  local dir=$1 run=$2
  wait_for 30 docker -H "unix://$run/docker.sock" version ||
    { tail -20 "$dir/docker.log" >&2; die "the Docker Engine in $dir did not start"; }
}

# write_sshd_config I: proxy I's sshd_config, from the switches left in its folder
# (no-forwarding, no-root-login, no-default-socket, docker-host).
write_sshd_config() {
  local i=$1 dir port FORWARDING=yes TCP_FORWARDING=local ROOT_LOGIN=yes
  dir=$(proxy_dir "$i")
  port=$(proxy_port "$i")
  if [ -f "$dir/no-forwarding" ]; then FORWARDING=no TCP_FORWARDING=no; fi
  if [ -f "$dir/no-root-login" ]; then ROOT_LOGIN=no; fi
  cat >"$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/sshd.pid
PermitRootLogin $ROOT_LOGIN
PubkeyAuthentication yes
AuthorizedKeysFile $LAB/client/authorized_keys
PasswordAuthentication yes
KbdInteractiveAuthentication yes
UsePAM yes
StrictModes no
# sshd permits stream-local opens only where local TCP forwarding is allowed too.
AllowStreamLocalForwarding $FORWARDING
AllowTcpForwarding $TCP_FORWARDING
X11Forwarding no
# Cloud proxies offer SFTP: mp-sideload installs a registry CA over it.
Subsystem sftp internal-sftp
PrintMotd no
MaxSessions 64
MaxStartups 64:30:128
# DEBUG1 logs each direct-tcpip (jump host) channel, which the jump tests count.
LogLevel DEBUG1
EOF
  # Without its engine at the default socket, the proxy's sessions name it in DOCKER_HOST;
  # "docker-host I VALUE" sets any other value.
  local docker_host=
  [ -f "$dir/no-default-socket" ] && docker_host="unix://$(engine_sock "$i")"
  [ -f "$dir/docker-host" ] && docker_host=$(cat "$dir/docker-host")
  if [ -n "$docker_host" ]; then echo "SetEnv DOCKER_HOST=$docker_host" >>"$dir/sshd_config"; fi
}

# restart_sshd I: after a change to proxy I's settings.
restart_sshd() {
  write_sshd_config "$1"
  stop_pid "$(proxy_dir "$1")/sshd.pid"
  start_sshd "$1"
}

# switch_flag I FILE on|off: "off" leaves FILE (e.g. no-forwarding) in proxy I's folder.
# Each proxy's sshd runs in a mount namespace of its own whose /run is a fresh tmpfs holding
# /run/sshd, the lab's runtime folder, and /run/docker.sock (= /var/run/docker.sock) linked to
# that proxy's engine: like a cloud proxy, every proxy has its engine at the default socket,
# whatever the machine running the lab has there. "default-socket I off" leaves the link out
# and sets DOCKER_HOST instead.
start_sshd() {
  local i=$1 dir link=/run/docker.sock
  dir=$(proxy_dir "$i")
  pid_alive "$dir/sshd.pid" && return 0
  [ -f "$dir/no-default-socket" ] && link=
  mkdir -p /run/sshd "$dir/host-run"
  # shellcheck disable=SC2016
  unshare --mount --propagation private -- sh -euc '
    hostrun=$1 run=$2 sock=$3 link=$4
    shift 4
    mount --rbind /run "$hostrun"
    mount -t tmpfs -o mode=0755,size=16m mpsl-proxy-run /run
    mkdir -p /run/sshd "$run"
    mount --bind "$hostrun/${run#/run/}" "$run"
    umount -l "$hostrun"
    if [ -n "$link" ]; then ln -s "$sock" "$link"; fi
    exec "$@"' sh "$dir/host-run" "$RUN" "$(engine_sock "$i")" "$link" \
    /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log" ||
    { tail -20 "$dir/sshd.log" >&2; die "sshd of proxy-$i did not start"; }
  wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$(proxy_port "$i")" ||
    { tail -20 "$dir/sshd.log" >&2; die "sshd of proxy-$i does not listen on $(proxy_port "$i")"; }
}

# setup_proxy I: proxy I's folder, host key and sshd_config.
setup_proxy() {
  local i=$1 dir
  dir=$(proxy_dir "$i")
  mkdir -p "$dir" "$RUN/p$i"
  [ -f "$dir/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "proxy-$i" -f "$dir/ssh_host_ed25519_key"
  write_sshd_config "$i"
}
