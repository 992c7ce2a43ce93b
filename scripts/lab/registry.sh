# shellcheck shell=bash
# The registries (`start-registry`, `stop-registry`): the private one (TLS from the lab's CA,
# basic auth) and the public one (same storage, read-only, anonymous; also the engines' Docker
# Hub mirror), their names in /etc/hosts and certs.d, and an authenticated GET for the others.

# start_registry: the private registry (TLS, htpasswd basic auth) at $REGISTRY.
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
  wait_for 15 registry_answers "$2" "$3" ||
    { tail -20 "$LAB/registry/$1.log" >&2; die "the registry did not start on $2"; }
}

stop_registry() { stop_pid "$LAB/registry/registry.pid"; }

# registry_answers ADDRESS CODE: https://ADDRESS/v2/ answers CODE.
registry_answers() {
  [ "$(curl -s --cacert "$LAB/ca/ca.crt" -o /dev/null -w '%{http_code}' "https://$1/v2/")" = "$2" ]
}

# start_public_registry: the same storage, read-only and anonymous, at $PUBLIC_REGISTRY.
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

# hosts_add, hosts_remove: the registry's two names on ::1 in /etc/hosts, one marked line per lab.
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

# trust_ca: the engines trust the lab's CA for the registry's first name (not the untrusted one).
trust_ca() {
  mkdir -p "$CERTS_D" "$PUBLIC_CERTS_D"
  cp "$LAB/ca/ca.crt" "$CERTS_D/ca.crt"
  cp "$LAB/ca/ca.crt" "$PUBLIC_CERTS_D/ca.crt"
}
