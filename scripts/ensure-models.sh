#!/usr/bin/env bash
# Builds the example model repository (models/) unless it is already built
# from the current training code. The build is deterministic, so a stamp of
# the training sources is enough to know whether it is current.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${MODELS_DIR:-models}
stamp=$(find model-host/example-models -name '*.ts' ! -name '*.test.ts' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
if [ -f "$out/.build-stamp" ] && [ "$(cat "$out/.build-stamp")" = "$stamp" ]; then
  exit 0
fi
printf '[setup] building example models into %s/\n' "$out" >&2
rm -rf "$out"
npx tsx model-host/example-models/build-models.ts --out "$out"
echo "$stamp" > "$out/.build-stamp"
