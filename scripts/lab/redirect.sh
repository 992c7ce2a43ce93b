# shellcheck shell=bash
# A registry whose blobs redirect to a second server (`redirect up`, `redirect down`), as ECR's
# and Docker Hub's redirect to S3 or a CDN: for `pull --relay`, which follows a redirect itself
# and never takes the credentials along. The redirect registry is docker-registry on
# [::1]:MP_LAB_PORT+97 under the registry's first name (TLS, basic auth, the private registry's
# storage, read-only) with the storage middleware `redirect`: a blob GET answers 307 to
# https://[::1]:MP_LAB_PORT+96/docker/registry/v2/blobs/…/data, where the blob server
# (scripts/blob-server.ts) serves the storage's files without auth and logs every request
# (redirect/blobs.log, one JSON line each). paks/redirect.pak is the sample image under the
# redirect registry's name; redirect/redirect.env holds the variables for the tests.

REDIRECT_PORT=$((BASE_PORT + 97))
REDIRECT_REGISTRY="$REG_HOST:$REDIRECT_PORT"
BLOB_PORT=$((BASE_PORT + 96))
BLOB_SERVER="https://[::1]:$BLOB_PORT"

# redirect up | down
cmd_redirect() {
  case ${1:-} in
    up)
      need_root
      [ -f "$LAB/images.env" ] || die "bring the lab up first (scripts/lab.sh up)"
      redirect_up
      log "redirect: registry $REDIRECT_REGISTRY, its blobs on $BLOB_SERVER, pak $LAB/paks/redirect.pak"
      ;;
    down) redirect_down ;;
    *) die "redirect takes up or down" ;;
  esac
}

# redirect_up: the blob server, the redirect registry (checked to answer a blob GET with 307), its
# CA in certs.d (the engines and mp-sideload trust it as the private registry's), the pak.
redirect_up() {
  local dir=$LAB/redirect
  mkdir -p "$dir"
  if ! pid_alive "$dir/blobs.pid"; then
    # The registry's certificate names ::1: the same CA, a host other than the registry's name.
    # From ROOT, where tsx is; `cd` apart from the `&`, or $! would be a subshell's pid.
    (
      cd "$ROOT" || exit 1
      setsid node --import tsx scripts/blob-server.ts --root "$LAB/registry/data" \
        --host ::1 --port "$BLOB_PORT" --cert "$LAB/registry/server.crt" --key "$LAB/registry/server.key" \
        --log "$dir/blobs.log" >>"$dir/blob-server.out" 2>&1 </dev/null &
      echo $! >"$dir/blobs.pid"
    )
    wait_for 20 registry_answers "[::1]:$BLOB_PORT" 404 ||
      { tail -20 "$dir/blob-server.out" >&2; die "the blob server did not start on $BLOB_SERVER"; }
  fi
  if ! pid_alive "$LAB/registry/redirect.pid"; then
    redirect_registry_config >"$LAB/registry/redirect.yml"
    serve_registry redirect "$REDIRECT_REGISTRY" 401
  fi
  mkdir -p "/etc/docker/certs.d/$REDIRECT_REGISTRY"
  cp "$LAB/ca/ca.crt" "/etc/docker/certs.d/$REDIRECT_REGISTRY/ca.crt"
  redirect_check
  # shellcheck disable=SC1091
  . "$LAB/images.env"
  [ -f "$LAB/paks/redirect.pak" ] ||
    (cd "$ROOT" && node --import tsx scripts/make-pak.ts --out "$LAB/paks/redirect.pak" --kind LabAdapter \
      --registry "$REDIRECT_REGISTRY" --repository /mp/test-adapter --digest "$SAMPLE_DIGEST")
  printf 'MP_LAB_REDIRECT_REGISTRY=%s\nMP_LAB_BLOB_SERVER=%s\nMP_LAB_BLOB_LOG=%s\nMP_LAB_REDIRECT_LOG=%s\n' \
    "$REDIRECT_REGISTRY" "$BLOB_SERVER" "$dir/blobs.log" "$LAB/registry/redirect.log" >"$dir/redirect.env"
}

# redirect_registry_config: the redirect registry's configuration (docker-registry 2.8's
# `redirect` middleware takes the scheme and host of baseurl and appends the storage path).
redirect_registry_config() {
  cat <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $LAB/registry/data
  maintenance:
    uploadpurging:
      enabled: false
    readonly:
      enabled: true
middleware:
  storage:
    - name: redirect
      options:
        baseurl: $BLOB_SERVER/
http:
  addr: "[::1]:$REDIRECT_PORT"
  tls:
    certificate: $LAB/registry/server.crt
    key: $LAB/registry/server.key
auth:
  htpasswd:
    realm: mp-sideload-lab
    path: $LAB/registry/htpasswd
EOF
}

# redirect_check: the sample image's config blob, asked of the redirect registry with the
# credentials, answers 307 to the blob server (a registry without the middleware would send 200).
redirect_check() {
  local digest status
  # shellcheck disable=SC1091
  digest=$(. "$LAB/images.env" && registry_get "/v2/mp/test-adapter/manifests/$SAMPLE_DIGEST" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' | grep -o 'sha256:[0-9a-f]\{64\}' | head -1)
  # The credentials through curl's config on stdin, as registry_get passes them.
  status=$(printf 'user = "%s:%s"\n' "$(cat "$LAB/secrets/registry-user")" "$(cat "$LAB/secrets/registry-password")" |
    curl -s -K - --cacert "$LAB/ca/ca.crt" -o /dev/null -w '%{http_code} %{redirect_url}' \
      "https://$REDIRECT_REGISTRY/v2/mp/test-adapter/blobs/$digest")
  case $status in
    "307 $BLOB_SERVER/"*) ;;
    *) die "the redirect registry answered a blob GET with '$status', not 307 to $BLOB_SERVER" ;;
  esac
}

# redirect_down: the blob server and the redirect registry stopped by pid files, their files gone.
redirect_down() {
  stop_pid "$LAB/redirect/blobs.pid"
  stop_pid "$LAB/registry/redirect.pid"
  rm -rf "$LAB/redirect" "/etc/docker/certs.d/$REDIRECT_REGISTRY"
  rm -f "$LAB/paks/redirect.pak" "$LAB/registry/redirect.yml"
}
