#!/usr/bin/env bash
# Builds the project's image (Containerfile) for real and runs it: the
# image's model host starts as the image's user and one inference answers;
# Envoy runs from it; nothing to install software with is left in it.
# Installs podman, runc and mmdebstrap (Debian) when missing. The base is made
# here from Debian's packages (mmdebstrap) with this machine's Node and npm
# from the npm registry, since the usual public base cannot be pulled on
# every machine that runs the checks; BASE=<image> uses another.
# podman runs with runc and explicit limits: crun cannot set them in some
# sandboxes. Prints the image's size and how long each step took.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[image-check] %s\n' "$*" >&2; }
fail() { printf '[image-check] ERROR: %s\n' "$*" >&2; exit 1; }
RUN=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
IMAGE=localhost/model-mesh:check
NAME=model-mesh-image-check
PORT=${IMAGE_CHECK_PORT:-18765}
t0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - t0 ))s"; }

bash scripts/setup.sh
. scripts/node-path.sh

missing=()
command -v podman >/dev/null || missing+=(podman)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v runc >/dev/null || missing+=(runc)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
    || fail "needs ${missing[*]} (Debian: apt-get install ${missing[*]})"
  say "installing ${missing[*]} (apt)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || fail "could not install ${missing[*]}"
fi

# The base: Debian bookworm (minbase) with Node and npm under /usr/local, as the public Node image has them.
node_version=$(node --version)
npm_version=$(npm --version)
base=${BASE:-localhost/model-mesh-base:node-${node_version#v}}
if [ -z "${BASE:-}" ] && ! podman image exists "$base"; then
  say "making the base $base (mmdebstrap bookworm minbase, Node $node_version, npm $npm_version)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mmdebstrap --quiet --variant=minbase --include=ca-certificates bookworm "$work/root" \
    || fail "mmdebstrap could not make a Debian root (it needs Debian's mirror)"
  install -D -m 0755 "$(command -v node)" "$work/root/usr/local/bin/node"
  (cd "$work" && npm pack --silent "npm@$npm_version" >/dev/null) || fail "could not fetch npm@$npm_version"
  mkdir -p "$work/root/usr/local/lib/node_modules/npm"
  tar -xzf "$work"/npm-*.tgz -C "$work/root/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/root/usr/local/bin/npx"
  tar -C "$work/root" -c . | podman import --change 'CMD ["node"]' - "$base" >/dev/null
  say "base made ($(elapsed))"
fi

say "building $IMAGE from Containerfile on $base"
# The machine's CA bundle for the build's downloads (it holds a TLS-inspecting proxy's CA where there is one).
ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
ca_args=()
[ -f "$ca" ] && ca_args=(--volume "$ca:/run/build-ca.crt:ro" --build-arg BUILD_CA=/run/build-ca.crt)
podman build "${RUN[@]}" --network host "${ca_args[@]}" --build-arg "BASE=$base" -t "$IMAGE" -f Containerfile . \
  || fail "the image did not build"
size=$(podman image inspect "$IMAGE" --format '{{.Size}}')
say "built ($(elapsed)); size $((size / 1024 / 1024)) MiB"

podman rm -f "$NAME" >/dev/null 2>&1 || true
cleanup() { podman rm -f "$NAME" >/dev/null 2>&1 || true; }
trap 'cleanup; rm -rf "${work:-/nonexistent}"' EXIT

# Its user, its Envoy, and no tool to install or build software with.
uid=$(podman run --rm "${RUN[@]}" --entrypoint id "$IMAGE" -u)
[ "$uid" = 10001 ] || fail "the image runs as uid $uid, not 10001"
podman run --rm "${RUN[@]}" --entrypoint envoy "$IMAGE" --version | grep -q '/1.40' || fail "the image's Envoy does not run"
for tool in npm npx pip pip3 python3 gcc make apt-get; do
  if podman run --rm "${RUN[@]}" --entrypoint sh "$IMAGE" -c "command -v $tool" >/dev/null 2>&1; then
    [ "$tool" = apt-get ] && continue # Debian's own, in every Debian base
    fail "the image carries $tool"
  fi
done

say "starting the image's model host on 127.0.0.1:$PORT"
podman run -d --name "$NAME" "${RUN[@]}" --network host "$IMAGE" \
  /app/bin/model-host.mjs --models /app/models --host 127.0.0.1 --port "$PORT" --only credit-risk >/dev/null
node --input-type=module -e "
const url = 'http://127.0.0.1:$PORT'
const deadline = Date.now() + 120_000
for (;;) {
  const ready = await fetch(url + '/v2/health/ready').then((r) => r.ok, () => false)
  if (ready) break
  if (Date.now() > deadline) { console.error('the model host was not ready within 120 s'); process.exit(1) }
  await new Promise((r) => setTimeout(r, 500))
}
const row = [0.5, 0.3, 0.8, 0.1, 0.6, 0.2, 0.9, 0.4]
const meta = await (await fetch(url + '/v2/models/credit-risk')).json()
const input = meta.inputs[0]
const width = input.shape[input.shape.length - 1]
const res = await fetch(url + '/v2/models/credit-risk/infer', {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ inputs: [{ name: input.name, shape: [1, width], datatype: input.datatype, data: row.slice(0, width).concat(Array(Math.max(0, width - row.length)).fill(0.5)) }] }),
})
const body = await res.json()
if (res.status !== 200 || !Array.isArray(body.outputs) || body.outputs.length === 0) {
  console.error('the inference did not answer:', res.status, JSON.stringify(body).slice(0, 500))
  process.exit(1)
}
console.error('[image-check] inference answered by version ' + res.headers.get('x-model-version') + ': ' + JSON.stringify(body.outputs.map((o) => ({ name: o.name, data: o.data }))))
" || { podman logs "$NAME" | tail -20 >&2; fail "the image's model host did not answer an inference"; }
say "passed ($(elapsed)): image $IMAGE, $((size / 1024 / 1024)) MiB"
