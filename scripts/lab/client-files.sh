# shellcheck shell=bash
# What the lab hands its clients (the tests, the benchmarks, someone trying the tool): under
# client/ the known_hosts and inventories of its proxies (`client-files` rewrites them, with the
# become inventories of become.sh), and lab.env (`env`).

# write_client_files N: known_hosts from the proxies' current host keys, and the native and
# Ansible inventories of proxies 1..N.
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

# write_env N: lab.env, what `env` prints and the tests read.
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

cmd_client_files() { write_client_files "$(proxy_count)" && write_become_client_files; }
cmd_env() { cat "$LAB/lab.env"; }
