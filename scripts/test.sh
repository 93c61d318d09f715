#!/usr/bin/env bash
# The whole test suite: installs what is missing, type-checks, then runs vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --for-tests
npx tsc --noEmit
# The dashboard page runs in a browser: its own settings (DOM, JSX).
npx tsc --noEmit -p telemetry-collector/dashboard/app
npx vitest run "$@"
