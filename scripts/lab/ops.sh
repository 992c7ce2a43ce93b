# shellcheck shell=bash
# The VCF Operations Suite API simulator (scripts/ops-simulator.ts; `start-ops`, `stop-ops`).
# HTTPS on 127.0.0.1:MP_LAB_PORT+98 with a certificate from the lab's CA, the deployments of
# test/ops/lab-scenario.json (user ops-admin, password in secrets/ops-password). Its cloud
# proxies' hostNames (cp-east-1.mp-sideload.test…) reach the lab's proxies through the ssh
# config it writes (client/ops-ssh-config). Variables in ops/ops.env.

OPS_PORT=$((BASE_PORT + 98))

# start_ops N: the simulator, its certificate and password, and the ssh config for N proxies
# (run from ROOT, where tsx is).
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
  wait_for 20 curl -sf --cacert "$LAB/ca/ca.crt" -o /dev/null "https://127.0.0.1:$OPS_PORT/_sim/stats" ||
    { tail -20 "$dir/ops.log" >&2; die "the ops simulator did not start on $OPS_PORT"; }
  printf 'MP_LAB_OPS_URL=https://127.0.0.1:%s\nMP_LAB_OPS_USER=ops-admin\nMP_LAB_OPS_SSH_CONFIG=%s\n' \
    "$OPS_PORT" "$LAB/client/ops-ssh-config" >"$dir/ops.env"
}

stop_ops() { stop_pid "$LAB/ops/ops.pid"; }

cmd_start_ops() { (cd "$ROOT" && start_ops "$(proxy_count)"); }
