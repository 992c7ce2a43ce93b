# shellcheck shell=bash
# become: a proxy where root cannot log in (`root-login I on|off`).
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

# make_become_users: mpadmin and mpsudo, their sudoers rules (checked by visudo first).
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

# remove_become_users: their sudoers file (down); the users stay (machine-wide: labs side by
# side share them).
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

# root-login I on|off
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
