# shellcheck shell=bash
# The test images and their paks. A builder engine that is not one of the proxies pushes them and
# runs only while it does: the two images and the paks of `up`, then on demand `big-image MB`
# (engine fault tests: a pull long enough to interrupt) and `old-digests N` (prune tests). Each is
# skipped when the registry already holds it.

# builder ARGS...: the docker CLI on the builder engine, with a config folder of its own.
builder() { docker -H "unix://$RUN/builder/docker.sock" --config "$LAB/builder/cli" "$@"; }

# start_builder: the builder engine up and logged in to the registry.
start_builder() {
  mkdir -p "$LAB/builder/cli" "$RUN/builder"
  start_engine "$LAB/builder" "$RUN/builder"
  wait_engine "$LAB/builder" "$RUN/builder"
  builder login --username "$(cat "$LAB/secrets/registry-user")" --password-stdin "$REGISTRY" \
    <"$LAB/secrets/registry-password" >/dev/null 2>&1
}

# stop_builder: the builder engine stopped, its images and work folder gone (the registry has them).
stop_builder() {
  stop_pid "$RUN/builder/docker.pid"
  rm -rf "$LAB/builder/rootfs" "$LAB/builder/data"
}

# registry_has REPOSITORY DIGEST: the registry holds that manifest.
registry_has() {
  registry_get "/v2/$1/manifests/$2" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' -o /dev/null
}

# pushed_digest IMAGE: the registry digest the builder recorded when it pushed IMAGE.
pushed_digest() { builder inspect --format '{{index .RepoDigests 0}}' "$1" | cut -d@ -f2; }

# push_images: mp/test-adapter and mp/second-adapter (MP_LAB_IMAGE_MB MiB of random bytes each,
# default 4), their digests and one the registry lacks in images.env.
push_images() {
  # shellcheck disable=SC1091
  if [ -f "$LAB/images.env" ] && registry_has mp/test-adapter "$(. "$LAB/images.env" && echo "$SAMPLE_DIGEST")"; then
    return 0
  fi
  local rootfs=$LAB/builder/rootfs name size
  start_builder
  for name in test-adapter second-adapter; do
    size=${MP_LAB_IMAGE_MB:-4}
    rm -rf "$rootfs" && mkdir -p "$rootfs/adapter"
    echo "mp-sideload lab image $name" >"$rootfs/adapter/README"
    head -c $((size * 1024 * 1024)) /dev/urandom >"$rootfs/adapter/payload.bin"
    tar -C "$rootfs" -cf - . | builder import --change 'CMD ["/adapter/README"]' - "$REGISTRY/mp/$name:1.0" >/dev/null
    builder push "$REGISTRY/mp/$name:1.0" >/dev/null
  done
  {
    echo "SAMPLE_DIGEST=$(pushed_digest "$REGISTRY/mp/test-adapter:1.0")"
    echo "SECOND_DIGEST=$(pushed_digest "$REGISTRY/mp/second-adapter:1.0")"
    echo "MISSING_DIGEST=sha256:$(head -c 64 /dev/urandom | sha256sum | cut -d' ' -f1)"
  } >"$LAB/images.env"
  stop_builder
}

# make_paks: the paks of `up` under paks/, from the fixture script.
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

# big-image MB: push mp/big-adapter-MB, one layer of MB MiB of random bytes (the registry serves
# every byte), and write paks/big-MB.pak; print the reference. Done once per size.
cmd_big_image() {
  local mb=${1:-} rootfs=$LAB/builder/rootfs digest
  [[ $mb =~ ^[0-9]+$ ]] || die "big-image takes a size in MiB"
  local name=big-adapter-$mb stamp=$LAB/big-$mb.digest
  if [ -f "$stamp" ] && registry_has "mp/$name" "$(cat "$stamp")"; then
    echo "$REGISTRY/mp/$name@$(cat "$stamp")"
    return 0
  fi
  start_builder
  rm -rf "$rootfs" && mkdir -p "$rootfs/adapter"
  head -c $((mb * 1024 * 1024)) /dev/urandom >"$rootfs/adapter/payload.bin"
  tar -C "$rootfs" -cf - . | builder import - "$REGISTRY/mp/$name:1.0" >/dev/null
  builder push "$REGISTRY/mp/$name:1.0" >/dev/null
  digest=$(pushed_digest "$REGISTRY/mp/$name:1.0")
  stop_builder
  (cd "$ROOT" && node --import tsx scripts/make-pak.ts --out "$LAB/paks/big-$mb.pak" --kind BigAdapter \
    --registry "$REGISTRY" --repository "/mp/$name" --digest "$digest") >/dev/null
  echo "$digest" >"$stamp"
  echo "$REGISTRY/mp/$name@$digest"
}

# old-digests N: push N more builds of mp/test-adapter (tags old-1..old-N, one small layer of
# random bytes each, built a second apart so that their creation times order them); print their
# digests, oldest first. Done once per N while the registry holds them.
cmd_old_digests() {
  local n=${1:-} rootfs=$LAB/builder/rootfs i
  [[ $n =~ ^[1-9][0-9]?$ ]] || die "old-digests takes a count from 1 to 99"
  local stamp=$LAB/old-digests-$n.txt
  if [ -f "$stamp" ] && registry_has mp/test-adapter "$(tail -n 1 "$stamp")"; then
    cat "$stamp"
    return 0
  fi
  start_builder
  : >"$stamp.new"
  for i in $(seq 1 "$n"); do
    rm -rf "$rootfs" && mkdir -p "$rootfs/adapter"
    echo "mp-sideload lab image test-adapter old-$i" >"$rootfs/adapter/README"
    head -c $((512 * 1024)) /dev/urandom >"$rootfs/adapter/payload.bin"
    tar -C "$rootfs" -cf - . | builder import --change 'CMD ["/adapter/README"]' - "$REGISTRY/mp/test-adapter:old-$i" >/dev/null
    builder push "$REGISTRY/mp/test-adapter:old-$i" >/dev/null
    pushed_digest "$REGISTRY/mp/test-adapter:old-$i" >>"$stamp.new"
    [ "$i" = "$n" ] || sleep 1
  done
  stop_builder
  mv "$stamp.new" "$stamp"
  cat "$stamp"
}
