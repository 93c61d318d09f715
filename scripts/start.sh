#!/usr/bin/env bash
# The project's main job: the whole local mesh from mesh.yaml (nats-server,
# model hosts, Envoy with the Wasm filters). Arguments go to `mesh up`
# (--demo also sends demo traffic). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The Node that setup provides (22+) runs the mesh and every process it starts.
. scripts/node-path.sh
exec node bin/mesh.mjs up mesh.yaml "$@"
