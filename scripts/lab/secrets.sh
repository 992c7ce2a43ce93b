# shellcheck shell=bash
# What the lab makes once and keeps until `down`: its CA and the registry's TLS certificate, the
# passwords under secrets/ (mode 600), the client's SSH key, the password-login account.

# make_ca: the lab's CA, and the registry's certificate from it (both of its names and ::1).
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

# make_secrets: the registry users and passwords, the SSH password, the client's key, and the
# account for password logins.
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
