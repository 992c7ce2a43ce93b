# shellcheck shell=bash
# The lab as a whole: `up` (every other piece's start, in order), `down`, `status`, `logs`.

# up [N]: start (or complete) the lab with N proxies; each step skips what is already there.
cmd_up() {
  local n=${1:-3} start i
  { [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 32 ]; } || die "up takes a proxy count from 1 to 32"
  need_root
  install_packages
  [ -d "$ROOT/node_modules/tsx" ] || die "run 'npm ci' first: the lab writes its paks with the project's fixture script"
  start=$(date +%s%N)
  mkdir -p "$RUN"
  ports_reserve
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

# down: stop what `up` started, by pid files, and remove its state (on this machine too).
cmd_down() {
  local dir i
  iso_down
  redirect_down
  for dir in "$LAB"/proxies/proxy-*; do
    [ -d "$dir" ] || continue
    i=${dir##*-}
    stop_pid "$dir/sshd.pid"
    stop_pid "$RUN/p$i/docker.pid"
  done
  stop_pid "$RUN/builder/docker.pid"
  small_disk_cleanup
  stop_registry
  stop_pid "$LAB/registry/public.pid"
  stop_ops
  # Our engines' leftover mounts (vfs makes none, but an interrupted engine may leave netns files).
  # Also the CA that `pull --registry-ca` tests install for the registry's other name.
  rm -rf "$CERTS_D" "$PUBLIC_CERTS_D" "/etc/docker/certs.d/$UNTRUSTED_HOST:$REG_PORT" "$RUN"
  hosts_remove
  ports_release
  ! id "$LAB_USER" >/dev/null 2>&1 || userdel -r "$LAB_USER" 2>/dev/null || true
  remove_become_users
  rm -rf "$LAB"
  log "down"
}

# status: the registry and each proxy's sshd and engine, up or down; fails when the registry
# is down.
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

# logs [PART]: the tails of the logs, all of them or PART's (registry, builder, proxy-I-sshd,
# proxy-I-engine).
cmd_logs() {
  local part=${1:-} dir
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
