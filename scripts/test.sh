#!/usr/bin/env bash
# The whole test suite: installs what is missing, type-checks, checks format and lint
# (Biome, biome.jsonc), then runs vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --for-tests
# The Node that setup provides (22+) runs the type-check, vitest and every
# process the tests start.
. scripts/node-path.sh
npx tsc --noEmit
# The dashboard page runs in a browser: its own settings (DOM, JSX).
npx tsc --noEmit -p telemetry-collector/dashboard/app
# Formatting and lint of the whole tree; `npm run format` fixes what it can.
npx biome ci --colors=off .
npx vitest run "$@"
