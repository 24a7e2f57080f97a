#!/usr/bin/env bash
# Installs everything trapezoid and its tests need on a fresh Debian machine:
#   - the real peers the interop tests talk to (Debian packages; needs root), unless --no-peers
#   - the npm packages from package-lock.json (npm ci; better-sqlite3 compiles, about 90 s)
set -euo pipefail
cd "$(dirname "$0")/.."

PEERS=(sip-tester tshark kamailio baresip sipvicious sipsak sox chromium openssl sngrep tcpdump tmux redis-server postgresql)

if [[ "${1:-}" != "--no-peers" ]]; then
  missing=()
  for p in "${PEERS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
      echo "setup: installing Debian packages: ${missing[*]}"
      apt-get update -q
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    else
      echo "setup: not root, cannot install ${missing[*]}; tests that need them will skip (or fail under CI=true)" >&2
    fi
  fi
fi

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi

# `trapezoid` runs compiled (dist/, as an installed package does): through tsx every closure the
# server makes per call costs about 25 times the time and 3 times the memory (bench/build.ts).
# bin/trapezoid.js still falls back to tsx when a source is newer than dist/.
npm run build
