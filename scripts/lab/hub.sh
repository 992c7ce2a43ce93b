# shellcheck shell=bash
# Docker Hub through a mirror: paks that name docker.io, pulled with no internet. Every engine
# takes the public registry as its Docker Hub mirror (HUB_MIRROR in proxies.sh; the engine trusts
# a mirror's TLS through certs.d/<mirror host:port>/ca.crt, like any registry), and the sample
# image is copied, by cross-repository blob mounts, to the repositories a docker.io lookup asks
# a mirror for: library/NAME for an official image (docker.io/NAME), USER/NAME otherwise.

HUB_REPOSITORIES="library/mp-hub-adapter mplab/hub-adapter"
HUB_MEDIA_TYPE=application/vnd.docker.distribution.manifest.v2+json

# hub_images: the sample image under HUB_REPOSITORIES, unless already there.
hub_images() {
  # shellcheck disable=SC1091
  . "$LAB/images.env"
  local repo blob manifest=$LAB/registry/hub-manifest.json
  registry_get "/v2/mp/test-adapter/manifests/$SAMPLE_DIGEST" -H "Accept: $HUB_MEDIA_TYPE" -o "$manifest"
  for repo in $HUB_REPOSITORIES; do
    registry_get "/v2/$repo/manifests/$SAMPLE_DIGEST" -I -H "Accept: $HUB_MEDIA_TYPE" -o /dev/null && continue
    while read -r blob; do
      registry_get "/v2/$repo/blobs/uploads/?mount=$blob&from=mp/test-adapter" -X POST -o /dev/null
    done < <(grep -o 'sha256:[0-9a-f]\{64\}' "$manifest")
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
