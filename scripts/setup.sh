#!/usr/bin/env bash
# Installs whatever the project is missing, idempotently: npm packages and the
# example model repository. Later components add their system parts here.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }
fail() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# Node.js 20 or later.
command -v node >/dev/null || fail "Node.js 20+ is required (Debian: apt-get install nodejs npm, or https://nodejs.org)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || fail "Node.js 20+ is required, found $(node --version)"

# npm packages, when missing or older than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund
fi

# Example models, when missing or built by older training code.
bash scripts/ensure-models.sh
