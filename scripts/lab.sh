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
#
# Environment: MP_LAB_DIR (default <repo>/.lab), MP_LAB_PORT (first port, default 42200:
# the registry; proxy I's sshd listens on MP_LAB_PORT+I).
# Stops only processes it started, by their pid files; never by name.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
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

# Install the Debian packages the lab needs, once.
install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  command -v htpasswd >/dev/null || missing+=(apache2-utils)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v curl >/dev/null || missing+=(curl)
  command -v tmux >/dev/null || missing+=(tmux) # the interactive tests drive a real terminal
  [ -x /usr/bin/time ] || missing+=(time)        # peak RSS in bench/inspect.ts
  command -v ansible-inventory >/dev/null || missing+=(ansible) # the inventory tests compare with Ansible itself
  command -v sudo >/dev/null || missing+=(sudo)  # a proxy where root cannot log in (become)
  command -v xmllint >/dev/null || missing+=(libxml2-utils) # the JUnit report test parses with libxml2
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (apt-get)"
    # A policy-rc.d keeps the packages' own services (a system dockerd, sshd) from starting
    # during the install: the lab runs its own. Removed again if this script put it there.
    local ours=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && ours=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    [ -z "$ours" ] || rm -f /usr/sbin/policy-rc.d
  fi
}

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
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

# wait_for WHAT SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
  local what=$1 seconds=$2 i
  shift 2
  for i in $(seq 1 $((seconds * 10))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

proxy_dir() { echo "$LAB/proxies/proxy-$1"; }
proxy_port() { echo $((BASE_PORT + $1)); }
engine_sock() { echo "$RUN/p$1/docker.sock"; }
proxy_count() { ls -d "$LAB"/proxies/proxy-* 2>/dev/null | wc -l; }

make_ca() {
  [ -f "$LAB/ca/ca.crt" ] && return 0
  mkdir -p "$LAB/ca" "$LAB/registry"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=mp-sideload lab CA" \
    -keyout "$LAB/ca/ca.key" -out "$LAB/ca/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$REG_HOST" \
    -keyout "$LAB/registry/server.key" -out "$LAB/registry/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s,DNS:%s,IP:::1\nextendedKeyUsage=serverAuth\n' "$REG_HOST" "$UNTRUSTED_HOST" >"$LAB/registry/ext.cnf"
  openssl x509 -req -in "$LAB/registry/server.csr" -CA "$LAB/ca/ca.crt" -CAkey "$LAB/ca/ca.key" \
    -CAcreateserial -days 3650 -extfile "$LAB/registry/ext.cnf" -out "$LAB/registry/server.crt" 2>/dev/null
  chmod 600 "$LAB/ca/ca.key" "$LAB/registry/server.key"
}

make_secrets() {
  mkdir -p "$LAB/secrets" "$LAB/client"
  chmod 700 "$LAB/secrets"
  [ -f "$LAB/secrets/registry-user" ] || echo "mpuser" >"$LAB/secrets/registry-user"
  [ -f "$LAB/secrets/registry-password" ] || openssl rand -hex 16 >"$LAB/secrets/registry-password"
  # A second registry user, for a pak whose two registries need two sets of credentials.
  [ -f "$LAB/secrets/registry-user-2" ] || echo "mpuser2" >"$LAB/secrets/registry-user-2"
  [ -f "$LAB/secrets/registry-password-2" ] || openssl rand -hex 16 >"$LAB/secrets/registry-password-2"
  [ -f "$LAB/secrets/ssh-password" ] || openssl rand -hex 16 >"$LAB/secrets/ssh-password"
  chmod 600 "$LAB/secrets"/*
  [ -f "$LAB/client/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C mp-sideload-lab -f "$LAB/client/id_ed25519"
  cp "$LAB/client/id_ed25519.pub" "$LAB/client/authorized_keys"
  # A non-root account with a password, for password and keyboard-interactive logins: the lab
  # never changes root's password on the machine it runs on. Its group may use the engines.
  if ! id "$LAB_USER" >/dev/null 2>&1; then
    useradd --system --create-home --shell /bin/bash "$LAB_USER"
  fi
  echo "$LAB_USER:$(cat "$LAB/secrets/ssh-password")" | chpasswd
}

start_registry() {
  pid_alive "$LAB/registry/registry.pid" && return 0
  mkdir -p "$LAB/registry/data"
  # -i: the password comes on stdin, never in a command line.
  [ -f "$LAB/registry/htpasswd" ] ||
    htpasswd -iBn "$(cat "$LAB/secrets/registry-user")" <"$LAB/secrets/registry-password" >"$LAB/registry/htpasswd" 2>/dev/null
  grep -q "^$(cat "$LAB/secrets/registry-user-2"):" "$LAB/registry/htpasswd" ||
    htpasswd -iB "$LAB/registry/htpasswd" "$(cat "$LAB/secrets/registry-user-2")" <"$LAB/secrets/registry-password-2" 2>/dev/null
  cat >"$LAB/registry/registry.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $LAB/registry/data
  delete:
    enabled: true
http:
  addr: "[::1]:$REG_PORT"
  tls:
    certificate: $LAB/registry/server.crt
    key: $LAB/registry/server.key
auth:
  htpasswd:
    realm: mp-sideload-lab
    path: $LAB/registry/htpasswd
EOF
  # Up means: TLS with the lab's CA, and anonymous requests refused (401).
  serve_registry registry "$REGISTRY" 401
}

# serve_registry NAME ADDRESS CODE: run docker-registry with $LAB/registry/NAME.yml (log and pid
# file beside it) and wait until https://ADDRESS/v2/ answers CODE with the lab's CA.
serve_registry() {
  setsid docker-registry serve "$LAB/registry/$1.yml" >>"$LAB/registry/$1.log" 2>&1 </dev/null &
  echo $! >"$LAB/registry/$1.pid"
  wait_for "registry $2" 15 registry_answers "$2" "$3" ||
    { tail -20 "$LAB/registry/$1.log" >&2; die "the registry did not start on $2"; }
}

registry_answers() {
  [ "$(curl -s --cacert "$LAB/ca/ca.crt" -o /dev/null -w '%{http_code}' "https://$1/v2/")" = "$2" ]
}

start_public_registry() {
  pid_alive "$LAB/registry/public.pid" && return 0
  cat >"$LAB/registry/public.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $LAB/registry/data
  maintenance:
    uploadpurging:
      enabled: false
    readonly:
      enabled: true
http:
  addr: "[::1]:$PUBLIC_PORT"
  tls:
    certificate: $LAB/registry/server.crt
    key: $LAB/registry/server.key
EOF
  # Up means: anonymous requests answered (200).
  serve_registry public "$PUBLIC_REGISTRY" 200
}

hosts_add() {
  grep -qF "$HOSTS_MARK" /etc/hosts 2>/dev/null && return 0
  printf '::1 %s %s %s\n' "$REG_HOST" "$UNTRUSTED_HOST" "$HOSTS_MARK" >>/etc/hosts
}

hosts_remove() {
  grep -qF "$HOSTS_MARK" /etc/hosts 2>/dev/null || return 0
  local kept
  kept=$(grep -vF "$HOSTS_MARK" /etc/hosts)
  # Rewrite in place (same inode): /etc/hosts is often a bind mount that cannot be renamed over.
  printf '%s\n' "$kept" >/etc/hosts
}

# registry_get PATH [CURL ARGS...]: an authenticated GET; the credentials go through curl's
# config on stdin, never on a command line.
registry_get() {
  local path=$1
  shift
  printf 'user = "%s:%s"\n' "$(cat "$LAB/secrets/registry-user")" "$(cat "$LAB/secrets/registry-password")" |
    curl -sf -K - --cacert "$LAB/ca/ca.crt" "$@" "https://$REGISTRY$path"
}

trust_ca() {
  mkdir -p "$CERTS_D" "$PUBLIC_CERTS_D"
  cp "$LAB/ca/ca.crt" "$CERTS_D/ca.crt"
  cp "$LAB/ca/ca.crt" "$PUBLIC_CERTS_D/ca.crt"
}

# start_engine DIR SOCK_DIR: a Docker Engine with its own everything, vfs storage, no networking.
start_engine() {
  local dir=$1 run=$2
  pid_alive "$run/docker.pid" && return 0
  mkdir -p "$dir/data" "$run/exec"
  setsid dockerd --storage-driver vfs --iptables=false --ip6tables=false --bridge=none \
    --data-root "$dir/data" --exec-root "$run/exec" --host "unix://$run/docker.sock" \
    --pidfile "$run/docker.pid" --group "$LAB_USER" --registry-mirror "$HUB_MIRROR" >>"$dir/docker.log" 2>&1 </dev/null &
}

wait_engine() {
  local dir=$1 run=$2
  wait_for engine 30 docker -H "unix://$run/docker.sock" version ||
    { tail -20 "$dir/docker.log" >&2; die "the Docker Engine in $dir did not start"; }
}

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
switch_flag() {
  proxy_arg "${1:-}"
  case ${3:-} in
    on) rm -f "$(proxy_dir "$1")/$2" ;;
    off) touch "$(proxy_dir "$1")/$2" ;;
    *) die "${2#no-} takes on or off" ;;
  esac
  restart_sshd "$1"
}

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
  wait_for sshd 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$(proxy_port "$i")" ||
    { tail -20 "$dir/sshd.log" >&2; die "sshd of proxy-$i does not listen on $(proxy_port "$i")"; }
}

setup_proxy() {
  local i=$1 dir
  dir=$(proxy_dir "$i")
  mkdir -p "$dir" "$RUN/p$i"
  [ -f "$dir/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "proxy-$i" -f "$dir/ssh_host_ed25519_key"
  write_sshd_config "$i"
}

write_client_files() {
  local n=$1 i port
  : >"$LAB/client/known_hosts"
  for i in $(seq 1 "$n"); do
    port=$(proxy_port "$i")
    echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$(proxy_dir "$i")/ssh_host_ed25519_key.pub")" >>"$LAB/client/known_hosts"
  done
  {
    echo "# mp-sideload inventory of the lab's cloud proxies"
    echo "defaults:"
    echo "  user: root"
    echo "  identity: $LAB/client/id_ed25519"
    echo "proxies:"
    for i in $(seq 1 "$n"); do
      echo "  - name: proxy-$i"
      echo "    host: 127.0.0.1"
      echo "    port: $(proxy_port "$i")"
      echo "    groups: [lab, $([ $((i % 2)) = 1 ] && echo odd || echo even)]"
    done
  } >"$LAB/client/inventory.yaml"
  {
    echo "[cloud_proxies]"
    for i in $(seq 1 "$n"); do
      echo "proxy-$i ansible_host=127.0.0.1 ansible_port=$(proxy_port "$i")"
    done
    echo
    echo "[cloud_proxies:vars]"
    echo "ansible_user=root"
    echo "ansible_ssh_private_key_file=$LAB/client/id_ed25519"
  } >"$LAB/client/inventory.ini"
}

# Build and push the test images with a builder engine that is not one of the proxies, then
# write the paks. Skipped when the registry already holds them.
push_images() {
  if [ -f "$LAB/images.env" ] && registry_get \
    "/v2/mp/test-adapter/manifests/$(. "$LAB/images.env" && echo "$SAMPLE_DIGEST")" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' -o /dev/null; then
    return 0
  fi
  local dir=$LAB/builder run=$RUN/builder
  mkdir -p "$dir/cli" "$run"
  start_engine "$dir" "$run"
  wait_engine "$dir" "$run"
  local d="docker -H unix://$run/docker.sock --config $dir/cli"
  $d login --username "$(cat "$LAB/secrets/registry-user")" --password-stdin "$REGISTRY" \
    <"$LAB/secrets/registry-password" >/dev/null 2>&1
  local name size
  for name in test-adapter second-adapter; do
    size=${MP_LAB_IMAGE_MB:-4}
    rm -rf "$dir/rootfs" && mkdir -p "$dir/rootfs/adapter"
    echo "mp-sideload lab image $name" >"$dir/rootfs/adapter/README"
    head -c $((size * 1024 * 1024)) /dev/urandom >"$dir/rootfs/adapter/payload.bin"
    tar -C "$dir/rootfs" -cf - . | $d import --change 'CMD ["/adapter/README"]' - "$REGISTRY/mp/$name:1.0" >/dev/null
    $d push "$REGISTRY/mp/$name:1.0" >/dev/null
  done
  {
    echo "SAMPLE_DIGEST=$($d inspect --format '{{index .RepoDigests 0}}' "$REGISTRY/mp/test-adapter:1.0" | cut -d@ -f2)"
    echo "SECOND_DIGEST=$($d inspect --format '{{index .RepoDigests 0}}' "$REGISTRY/mp/second-adapter:1.0" | cut -d@ -f2)"
    echo "MISSING_DIGEST=sha256:$(head -c 64 /dev/urandom | sha256sum | cut -d' ' -f1)"
  } >"$LAB/images.env"
  stop_pid "$run/docker.pid"
  rm -rf "$dir/rootfs" "$dir/data"
}

make_paks() {
  # shellcheck disable=SC1091
  . "$LAB/images.env"
  mkdir -p "$LAB/paks"
  (cd "$ROOT" && node --import tsx scripts/make-pak.ts \
    --out "$LAB/paks/sample.pak" --kind LabAdapter --registry "$REGISTRY" --repository /mp/test-adapter --digest "$SAMPLE_DIGEST" \
    --out "$LAB/paks/second.pak" --kind SecondAdapter --registry "$REGISTRY" --repository /mp/second-adapter --digest "$SECOND_DIGEST" \
    --out "$LAB/paks/missing.pak" --kind LabAdapter --registry "$REGISTRY" --repository /mp/test-adapter --digest "$MISSING_DIGEST" \
    --out "$LAB/paks/untrusted.pak" --kind LabAdapter --registry "$UNTRUSTED_HOST:$REG_PORT" --repository /mp/test-adapter --digest "$SAMPLE_DIGEST" \
    --out "$LAB/paks/two-adapters.pak" --kind LabAdapter --registry "$REGISTRY" --repository /mp/test-adapter --digest "$SAMPLE_DIGEST" \
    --and --kind SecondAdapter --registry "$REGISTRY" --repository /mp/second-adapter --digest "$SECOND_DIGEST" \
    --out "$LAB/paks/two-registries.pak" --kind LabAdapter --registry "$REGISTRY" --repository /mp/test-adapter --digest "$SAMPLE_DIGEST" \
    --and --kind SecondAdapter --registry "$UNTRUSTED_HOST:$REG_PORT" --repository /mp/second-adapter --digest "$SECOND_DIGEST" \
    --out "$LAB/paks/public.pak" --kind LabAdapter --registry "$PUBLIC_REGISTRY" --repository /mp/test-adapter --digest "$SAMPLE_DIGEST")
}

write_env() {
  local n=$1
  # shellcheck disable=SC1091
  . "$LAB/images.env"
  {
    echo "MP_LAB_DIR=$LAB"
    echo "MP_LAB_RUN=$RUN"
    echo "MP_LAB_REGISTRY=$REGISTRY"
    echo "MP_LAB_UNTRUSTED_REGISTRY=$UNTRUSTED_HOST:$REG_PORT"
    echo "MP_LAB_PUBLIC_REGISTRY=$PUBLIC_REGISTRY"
    echo "MP_LAB_PROXIES=$n"
    echo "MP_LAB_FIRST_SSH_PORT=$((BASE_PORT + 1))"
    echo "MP_LAB_SSH_USER_PASSWORD_LOGIN=$LAB_USER"
    echo "MP_LAB_SAMPLE_DIGEST=$SAMPLE_DIGEST"
    echo "MP_LAB_SECOND_DIGEST=$SECOND_DIGEST"
    echo "MP_LAB_MISSING_DIGEST=$MISSING_DIGEST"
  } >"$LAB/lab.env"
}

# ---- Docker Hub through a mirror ---------------------------------------------------------
# Paks that name docker.io, pulled with no internet: every engine takes the public registry
# as its Docker Hub mirror (--registry-mirror; the engine trusts a mirror's TLS through
# certs.d/<mirror host:port>/ca.crt, like any registry), and the sample image is copied, by
# cross-repository blob mounts, to the repositories a docker.io lookup asks a mirror for:
# library/NAME for an official image (docker.io/NAME), USER/NAME otherwise.
HUB_MIRROR="https://$PUBLIC_REGISTRY"
HUB_REPOSITORIES="library/mp-hub-adapter mplab/hub-adapter"
HUB_MEDIA_TYPE=application/vnd.docker.distribution.manifest.v2+json

hub_images() {
  # shellcheck disable=SC1091
  . "$LAB/images.env"
  local repo blob manifest=$LAB/registry/hub-manifest.json
  registry_get "/v2/mp/test-adapter/manifests/$SAMPLE_DIGEST" -H "Accept: $HUB_MEDIA_TYPE" -o "$manifest"
  for repo in $HUB_REPOSITORIES; do
    registry_get "/v2/$repo/manifests/$SAMPLE_DIGEST" -I -H "Accept: $HUB_MEDIA_TYPE" -o /dev/null && continue
    for blob in $(grep -o 'sha256:[0-9a-f]\{64\}' "$manifest"); do
      registry_get "/v2/$repo/blobs/uploads/?mount=$blob&from=mp/test-adapter" -X POST -o /dev/null
    done
    registry_get "/v2/$repo/manifests/$SAMPLE_DIGEST" -X PUT -H "Content-Type: $HUB_MEDIA_TYPE" \
      --data-binary "@$manifest" -o /dev/null
  done
}

# hub.pak: docker.io/mplab/hub-adapter; hub-official.pak: docker.io/mp-hub-adapter (the engine
# lists it as mp-hub-adapter@...); hub-index.pak: index.docker.io/mplab/hub-adapter;
# hub-legacy.pak: registry.hub.docker.com/mplab/hub-adapter (what mp-build writes by default).
make_hub_paks() {
  # shellcheck disable=SC1091
  . "$LAB/images.env"
  (cd "$ROOT" && node --import tsx scripts/make-pak.ts \
    --out "$LAB/paks/hub.pak" --kind HubAdapter --registry docker.io --repository /mplab/hub-adapter --digest "$SAMPLE_DIGEST" \
    --out "$LAB/paks/hub-official.pak" --kind HubAdapter --registry docker.io --repository /mp-hub-adapter --digest "$SAMPLE_DIGEST" \
    --out "$LAB/paks/hub-index.pak" --kind HubAdapter --registry index.docker.io --repository /mplab/hub-adapter --digest "$SAMPLE_DIGEST" \
    --out "$LAB/paks/hub-legacy.pak" --kind HubAdapter --registry registry.hub.docker.com --repository /mplab/hub-adapter --digest "$SAMPLE_DIGEST")
}
# ---- end of Docker Hub through a mirror ----------------------------------------------------
# ---- become: a proxy where root cannot log in --------------------------------------------
# `root-login I off` hardens proxy I as cloud proxies often are: PermitRootLogin no, and two
# admin users who log in with the lab's key and may use sudo but are not in the engines' group
# (so neither the engine socket nor /etc/docker/certs.d is theirs): mpadmin (sudo NOPASSWD) and
# mpsudo (sudo asks for the password in $LAB/secrets/sudo-password). Users and sudoers are the
# machine's, as on a real proxy; `down` removes the sudoers file. Client files:
# $LAB/client/inventory-become.yaml (native, become: true) and inventory-become.ini (Ansible,
# ansible_become; mpsudo's ansible_become_password in the file, mode 600).
BECOME_NOPASSWD_USER=mpadmin
BECOME_PASSWORD_USER=mpsudo
SUDOERS_FILE=/etc/sudoers.d/mpsl-$(printf '%s' "$LAB" | md5sum | cut -c1-8)

make_become_users() {
  local user
  command -v sudo >/dev/null || die "sudo is not installed: run scripts/lab.sh deps"
  [ -f "$LAB/secrets/sudo-password" ] || openssl rand -hex 16 >"$LAB/secrets/sudo-password"
  chmod 600 "$LAB/secrets/sudo-password"
  for user in "$BECOME_NOPASSWD_USER" "$BECOME_PASSWORD_USER"; do
    id "$user" >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash "$user"
    # Never in the group the lab's engines give their sockets to.
    gpasswd -d "$user" "$LAB_USER" >/dev/null 2>&1 || true
  done
  # A key login needs an account that is not locked; mpadmin has no password at all.
  usermod -p '*' "$BECOME_NOPASSWD_USER"
  echo "$BECOME_PASSWORD_USER:$(cat "$LAB/secrets/sudo-password")" | chpasswd
  local tmp
  tmp=$(mktemp)
  printf '%s ALL=(ALL:ALL) NOPASSWD: ALL\n%s ALL=(ALL:ALL) ALL\nDefaults:%s passwd_tries=1, !lecture\n' \
    "$BECOME_NOPASSWD_USER" "$BECOME_PASSWORD_USER" "$BECOME_PASSWORD_USER" >"$tmp"
  visudo -cqf "$tmp" || { rm -f "$tmp"; die "the lab's sudoers rules do not parse"; }
  install -m 0440 "$tmp" "$SUDOERS_FILE"
  rm -f "$tmp"
}

remove_become_users() { rm -f "$SUDOERS_FILE"; }

# write_become_client_files: inventories for the proxies whose root login is off.
write_become_client_files() {
  local dir i port any=
  {
    echo "# mp-sideload inventory of the lab's proxies where root cannot log in"
    echo "defaults:"
    echo "  identity: $LAB/client/id_ed25519"
    echo "  become: true"
    echo "proxies:"
  } >"$LAB/client/inventory-become.yaml"
  : >"$LAB/client/inventory-become.ini"
  chmod 600 "$LAB/client/inventory-become.ini"
  for dir in "$LAB"/proxies/proxy-*; do
    [ -f "$dir/no-root-login" ] || continue
    i=${dir##*-}
    port=$(proxy_port "$i")
    any=1
    printf '  - {name: become-%s, host: 127.0.0.1, port: %s, user: %s}\n' "$i" "$port" "$BECOME_NOPASSWD_USER" \
      >>"$LAB/client/inventory-become.yaml"
    printf '  - {name: become-pw-%s, host: 127.0.0.1, port: %s, user: %s}\n' "$i" "$port" "$BECOME_PASSWORD_USER" \
      >>"$LAB/client/inventory-become.yaml"
    {
      echo "[become_nopasswd]"
      echo "become-$i ansible_host=127.0.0.1 ansible_port=$port ansible_user=$BECOME_NOPASSWD_USER"
      echo "[become_password]"
      echo "become-pw-$i ansible_host=127.0.0.1 ansible_port=$port ansible_user=$BECOME_PASSWORD_USER ansible_become_password=$(cat "$LAB/secrets/sudo-password")"
    } >>"$LAB/client/inventory-become.ini"
  done
  [ -n "$any" ] || { rm -f "$LAB/client/inventory-become.yaml" "$LAB/client/inventory-become.ini"; return 0; }
  printf '[all:vars]\nansible_ssh_private_key_file=%s\nansible_become=true\nansible_become_method=sudo\n' \
    "$LAB/client/id_ed25519" >>"$LAB/client/inventory-become.ini"
}

cmd_root_login() {
  proxy_arg "${1:-}"
  case ${2:-} in
    on) rm -f "$(proxy_dir "$1")/no-root-login" ;;
    off) make_become_users && touch "$(proxy_dir "$1")/no-root-login" ;;
    *) die "root-login takes on or off" ;;
  esac
  restart_sshd "$1"
  write_become_client_files
}
# ---- end of become -----------------------------------------------------------------------
# ---- VCF Operations Suite API simulator (scripts/ops-simulator.ts) --------------------------
# HTTPS on 127.0.0.1:MP_LAB_PORT+98 with a certificate from the lab's CA, the deployments of
# test/ops/lab-scenario.json (user ops-admin, password in secrets/ops-password). Its cloud
# proxies' hostNames (cp-east-1.mp-sideload.test…) reach the lab's proxies through the ssh
# config it writes (client/ops-ssh-config). Variables in ops/ops.env.
OPS_PORT=$((BASE_PORT + 98))

start_ops() {
  local n=$1 dir=$LAB/ops i names=(cp-east-1 cp-east-2 cp-west-1)
  pid_alive "$dir/ops.pid" && return 0
  mkdir -p "$dir"
  [ -f "$LAB/secrets/ops-password" ] || openssl rand -hex 16 >"$LAB/secrets/ops-password"
  chmod 600 "$LAB/secrets/ops-password"
  if [ ! -f "$dir/server.crt" ]; then
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$dir/ext.cnf"
    openssl x509 -req -in "$dir/server.csr" -CA "$LAB/ca/ca.crt" -CAkey "$LAB/ca/ca.key" \
      -CAcreateserial -days 3650 -extfile "$dir/ext.cnf" -out "$dir/server.crt" 2>/dev/null
    chmod 600 "$dir/server.key"
  fi
  {
    echo "# The simulated VCF Operations' cloud proxies are the lab's proxies."
    for i in $(seq 1 "$n"); do
      [ "$i" -le ${#names[@]} ] || break
      printf 'Host %s.mp-sideload.test\n  HostName 127.0.0.1\n  Port %s\n  User root\n  IdentityFile %s\n' \
        "${names[$((i - 1))]}" "$(proxy_port "$i")" "$LAB/client/id_ed25519"
    done
  } >"$LAB/client/ops-ssh-config"
  setsid node --import tsx "$ROOT/scripts/ops-simulator.ts" --scenario "$ROOT/test/ops/lab-scenario.json" \
    --port "$OPS_PORT" --cert "$dir/server.crt" --key "$dir/server.key" \
    --password-file "$LAB/secrets/ops-password" >>"$dir/ops.log" 2>&1 </dev/null &
  echo $! >"$dir/ops.pid"
  wait_for "ops simulator" 20 curl -sf --cacert "$LAB/ca/ca.crt" -o /dev/null "https://127.0.0.1:$OPS_PORT/_sim/stats" ||
    { tail -20 "$dir/ops.log" >&2; die "the ops simulator did not start on $OPS_PORT"; }
  printf 'MP_LAB_OPS_URL=https://127.0.0.1:%s\nMP_LAB_OPS_USER=ops-admin\nMP_LAB_OPS_SSH_CONFIG=%s\n' \
    "$OPS_PORT" "$LAB/client/ops-ssh-config" >"$dir/ops.env"
}

stop_ops() { stop_pid "$LAB/ops/ops.pid"; }
# ---- end of the ops simulator ----------------------------------------------------------------

cmd_up() {
  local n=${1:-3} start i
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 32 ] || die "up takes a proxy count from 1 to 32"
  need_root
  install_packages
  [ -d "$ROOT/node_modules/tsx" ] || die "run 'npm ci' first: the lab writes its paks with the project's fixture script"
  start=$(date +%s%N)
  mkdir -p "$RUN"
  make_ca
  make_secrets
  hosts_add
  trust_ca
  start_registry
  for i in $(seq 1 "$n"); do setup_proxy "$i"; done
  # Engines start in parallel; the images are pushed meanwhile by the builder engine.
  for i in $(seq 1 "$n"); do start_engine "$(proxy_dir "$i")" "$RUN/p$i"; done
  push_images
  start_public_registry
  make_paks
  hub_images
  make_hub_paks
  for i in $(seq 1 "$n"); do wait_engine "$(proxy_dir "$i")" "$RUN/p$i"; done
  for i in $(seq 1 "$n"); do start_sshd "$i"; done
  write_client_files "$n"
  write_env "$n"
  (cd "$ROOT" && start_ops "$n")
  log "up: registry $REGISTRY, $n proxies on ports $((BASE_PORT + 1))-$((BASE_PORT + n)) in $((($(date +%s%N) - start) / 1000000)) ms"
  log "files: $LAB/client (known_hosts, id_ed25519, inventory.yaml, inventory.ini), paks: $LAB/paks"
}

cmd_down() {
  local i
  for dir in "$LAB"/proxies/proxy-*; do
    [ -d "$dir" ] || continue
    i=${dir##*-}
    stop_pid "$dir/sshd.pid"
    stop_pid "$RUN/p$i/docker.pid"
  done
  stop_pid "$RUN/builder/docker.pid"
  small_disk_cleanup
  stop_pid "$LAB/registry/registry.pid"
  stop_pid "$LAB/registry/public.pid"
  stop_ops
  # Our engines' leftover mounts (vfs makes none, but an interrupted engine may leave netns files).
  # Also the CA that `pull --registry-ca` tests install for the registry's other name.
  rm -rf "$CERTS_D" "$PUBLIC_CERTS_D" "/etc/docker/certs.d/$UNTRUSTED_HOST:$REG_PORT" "$RUN"
  hosts_remove
  ! id "$LAB_USER" >/dev/null 2>&1 || userdel -r "$LAB_USER" 2>/dev/null || true
  remove_become_users
  rm -rf "$LAB"
  log "down"
}

cmd_status() {
  local dir i state=0
  if pid_alive "$LAB/registry/registry.pid"; then echo "registry  $REGISTRY  up"; else
    echo "registry  $REGISTRY  down"
    state=1
  fi
  for dir in "$LAB"/proxies/proxy-*; do
    [ -d "$dir" ] || continue
    i=${dir##*-}
    printf 'proxy-%s   127.0.0.1:%s  sshd %s  engine %s\n' "$i" "$(proxy_port "$i")" \
      "$(pid_alive "$dir/sshd.pid" && echo up || echo down)" "$(pid_alive "$RUN/p$i/docker.pid" && echo up || echo down)"
  done
  return $state
}

cmd_logs() {
  local part=${1:-}
  case $part in
    "" | registry) tail -n 40 "$LAB/registry/registry.log" 2>/dev/null || true ;;&
    "" | builder) tail -n 40 "$LAB/builder/docker.log" 2>/dev/null || true ;;&
    "") for dir in "$LAB"/proxies/proxy-*; do
      echo "== $dir"
      tail -n 20 "$dir/sshd.log" "$dir/docker.log" 2>/dev/null || true
    done ;;
    proxy-*-sshd) tail -n 60 "$LAB/proxies/${part%-sshd}/sshd.log" ;;
    proxy-*-engine) tail -n 60 "$LAB/proxies/${part%-engine}/docker.log" ;;
  esac
}

proxy_arg() {
  [[ ${1:-} =~ ^[0-9]+$ ]] && [ -d "$(proxy_dir "$1")" ] || die "no proxy ${1:-?} in the lab"
}

# ---- big-image MB (engine fault tests: a pull long enough to interrupt) -----------------------
# Push mp/big-adapter-MB, one layer of MB MiB of random bytes (the registry serves every byte),
# with the builder engine, and write paks/big-MB.pak; print the reference. Done once per size.
big_image() {
  local mb=${1:-} dir=$LAB/builder run=$RUN/builder digest d
  [[ $mb =~ ^[0-9]+$ ]] || die "big-image takes a size in MiB"
  local name=big-adapter-$mb stamp=$LAB/big-$mb.digest
  if [ -f "$stamp" ] && registry_get "/v2/mp/$name/manifests/$(cat "$stamp")" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' -o /dev/null; then
    echo "$REGISTRY/mp/$name@$(cat "$stamp")"
    return 0
  fi
  mkdir -p "$dir/cli" "$run"
  start_engine "$dir" "$run"
  wait_engine "$dir" "$run"
  d="docker -H unix://$run/docker.sock --config $dir/cli"
  $d login --username "$(cat "$LAB/secrets/registry-user")" --password-stdin "$REGISTRY" \
    <"$LAB/secrets/registry-password" >/dev/null 2>&1
  rm -rf "$dir/rootfs" && mkdir -p "$dir/rootfs/adapter"
  head -c $((mb * 1024 * 1024)) /dev/urandom >"$dir/rootfs/adapter/payload.bin"
  tar -C "$dir/rootfs" -cf - . | $d import - "$REGISTRY/mp/$name:1.0" >/dev/null
  $d push "$REGISTRY/mp/$name:1.0" >/dev/null
  digest=$($d inspect --format '{{index .RepoDigests 0}}' "$REGISTRY/mp/$name:1.0" | cut -d@ -f2)
  stop_pid "$run/docker.pid"
  rm -rf "$dir/rootfs" "$dir/data"
  (cd "$ROOT" && node --import tsx scripts/make-pak.ts --out "$LAB/paks/big-$mb.pak" --kind BigAdapter \
    --registry "$REGISTRY" --repository "/mp/$name" --digest "$digest") >/dev/null
  echo "$digest" >"$stamp"
  echo "$REGISTRY/mp/$name@$digest"
}
# ---- end big-image -----------------------------------------------------------------------------

# ---- old-digests N (prune tests: earlier builds of the sample's repository) ---------------------
# Push N more builds of mp/test-adapter (tags old-1..old-N, one small layer of random bytes each,
# built a second apart so that their creation times order them), with the builder engine; print
# their digests, oldest first. Done once per N while the registry holds them.
old_digests() {
  local n=${1:-} dir=$LAB/builder run=$RUN/builder d i digest
  [[ $n =~ ^[1-9][0-9]?$ ]] || die "old-digests takes a count from 1 to 99"
  local stamp=$LAB/old-digests-$n.txt
  if [ -f "$stamp" ] && registry_get "/v2/mp/test-adapter/manifests/$(tail -n 1 "$stamp")" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' -o /dev/null; then
    cat "$stamp"
    return 0
  fi
  mkdir -p "$dir/cli" "$run"
  start_engine "$dir" "$run"
  wait_engine "$dir" "$run"
  d="docker -H unix://$run/docker.sock --config $dir/cli"
  $d login --username "$(cat "$LAB/secrets/registry-user")" --password-stdin "$REGISTRY" \
    <"$LAB/secrets/registry-password" >/dev/null 2>&1
  : >"$stamp.new"
  for i in $(seq 1 "$n"); do
    rm -rf "$dir/rootfs" && mkdir -p "$dir/rootfs/adapter"
    echo "mp-sideload lab image test-adapter old-$i" >"$dir/rootfs/adapter/README"
    head -c $((512 * 1024)) /dev/urandom >"$dir/rootfs/adapter/payload.bin"
    tar -C "$dir/rootfs" -cf - . | $d import --change 'CMD ["/adapter/README"]' - "$REGISTRY/mp/test-adapter:old-$i" >/dev/null
    $d push "$REGISTRY/mp/test-adapter:old-$i" >/dev/null
    digest=$($d inspect --format '{{index .RepoDigests 0}}' "$REGISTRY/mp/test-adapter:old-$i" | cut -d@ -f2)
    echo "$digest" >>"$stamp.new"
    [ "$i" = "$n" ] || sleep 1
  done
  stop_pid "$run/docker.pid"
  rm -rf "$dir/rootfs" "$dir/data"
  mv "$stamp.new" "$stamp"
  cat "$stamp"
}
# ---- end old-digests ---------------------------------------------------------------------------

# ---- small-disk I MB|off (engine fault tests: a full disk) ---------------------------------------
# Proxy I's engine restarted on a tmpfs of MB MiB as its data root (its images are gone), or back
# on the lab's disk with off; sshd restarts too, so that the proxy's sessions see the mount.
small_disk() {
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

# Unmount what small-disk mounted (down).
small_disk_cleanup() {
  local dir
  for dir in "$LAB"/proxies/proxy-*; do
    if mountpoint -q "$dir/data" 2>/dev/null; then umount "$dir/data" || true; fi
  done
}
# ---- end small-disk ------------------------------------------------------------------------------

case ${1:-} in
  small-disk) small_disk "${2:-}" "${3:-}" ;;
  big-image) big_image "${2:-}" ;;
  old-digests) old_digests "${2:-}" ;;
  deps) need_root && install_packages ;;
  up) cmd_up "${2:-3}" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cat "$LAB/lab.env" ;;
  logs) cmd_logs "${2:-}" ;;
  stop-engine) proxy_arg "${2:-}" && stop_pid "$RUN/p$2/docker.pid" ;;
  pause-engine) proxy_arg "${2:-}" && pid_alive "$RUN/p$2/docker.pid" && kill -STOP "$(cat "$RUN/p$2/docker.pid")" ;;
  resume-engine) proxy_arg "${2:-}" && pid_alive "$RUN/p$2/docker.pid" && kill -CONT "$(cat "$RUN/p$2/docker.pid")" ;;
  start-engine) proxy_arg "${2:-}" && start_engine "$(proxy_dir "$2")" "$RUN/p$2" && wait_engine "$(proxy_dir "$2")" "$RUN/p$2" ;;
  stop-sshd) proxy_arg "${2:-}" && stop_pid "$(proxy_dir "$2")/sshd.pid" ;;
  start-sshd) proxy_arg "${2:-}" && start_sshd "$2" ;;
  stop-registry) stop_pid "$LAB/registry/registry.pid" ;;
  start-registry) start_registry ;;
  client-files) write_client_files "$(proxy_count)" && write_become_client_files ;;
  root-login) cmd_root_login "${2:-}" "${3:-}" ;;
  stop-ops) stop_ops ;;
  start-ops) (cd "$ROOT" && start_ops "$(proxy_count)") ;;
  client-files) write_client_files "$(proxy_count)" ;;
  default-socket) switch_flag "${2:-}" no-default-socket "${3:-}" ;;
  forwarding) switch_flag "${2:-}" no-forwarding "${3:-}" ;;
  docker-host)
    proxy_arg "${2:-}"
    [[ ${3:-} =~ ^(none|[a-z]+://[A-Za-z0-9_./:-]+)$ ]] || die "docker-host takes none or a DOCKER_HOST value"
    if [ "$3" = none ]; then rm -f "$(proxy_dir "$2")/docker-host"; else echo "$3" >"$(proxy_dir "$2")/docker-host"; fi
    restart_sshd "$2"
    ;;
  rekey)
    proxy_arg "${2:-}"
    rm -f "$(proxy_dir "$2")/ssh_host_ed25519_key"*
    ssh-keygen -q -t ed25519 -N '' -C "proxy-$2-rekeyed" -f "$(proxy_dir "$2")/ssh_host_ed25519_key"
    stop_pid "$(proxy_dir "$2")/sshd.pid"
    start_sshd "$2"
    ;;
  *)
    # The usage: the comment block at the top of this file.
    awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
