#!/usr/bin/env bash
# The project's main job: serve the example models over the Open Inference Protocol.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
port=${PORT:-8000}
printf '\nModel host on http://127.0.0.1:%s  (Ctrl-C stops it)\nTry:\n  curl -s http://127.0.0.1:%s/v2/models/credit-risk/infer -H "content-type: application/json" \\\n    -d @model-host/examples/credit-risk-request.json\n\n' "$port" "$port" >&2
exec node bin/model-host.mjs --models models --port "$port"
