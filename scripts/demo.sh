#!/usr/bin/env bash
# The demo: bring the lab up (installing its Debian packages if needed), show the sample pak,
# sideload it onto the lab's cloud proxies with `mp-sideload pull`, then verify them.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
bash scripts/lab.sh up "${1:-3}"
LAB=${MP_LAB_DIR:-.lab}
echo
echo "\$ mp-sideload inspect $LAB/paks/sample.pak"
./bin/mp-sideload inspect "$LAB/paks/sample.pak"
echo
echo "\$ mp-sideload pull $LAB/paks/sample.pak --inventory $LAB/client/inventory.yaml --known-hosts $LAB/client/known_hosts --registry-user mpuser --registry-password-stdin < $LAB/secrets/registry-password"
./bin/mp-sideload pull "$LAB/paks/sample.pak" --inventory "$LAB/client/inventory.yaml" --known-hosts "$LAB/client/known_hosts" \
  --registry-user "$(cat "$LAB/secrets/registry-user")" --registry-password-stdin --yes <"$LAB/secrets/registry-password"
echo
echo "\$ mp-sideload verify $LAB/paks/sample.pak --inventory $LAB/client/inventory.yaml --known-hosts $LAB/client/known_hosts"
./bin/mp-sideload verify "$LAB/paks/sample.pak" --inventory "$LAB/client/inventory.yaml" --known-hosts "$LAB/client/known_hosts"
echo
echo "The lab is still up: try the commands above, or 'npm run lab -- down' to stop it."
