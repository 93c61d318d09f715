# The Node.js the project runs on: the machine's own where it is 22 or later,
# else the Node 24 LTS that scripts/setup.sh installs into .local/node, put
# first on PATH here. Sourced from the repository root (`. scripts/node-path.sh`)
# by the scripts and the npm scripts: everything they start then runs on it
# (npm, npx and the bins find `node` on PATH; child processes of the mesh and
# the tests start process.execPath). POSIX sh: npm runs scripts with sh.
case ":$PATH:" in
  *":$PWD/.local/node/bin:"*) ;;
  *)
    if [ -x .local/node/bin/node ] \
      && ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 22 ? 0 : 1)' 2>/dev/null; then
      PATH="$PWD/.local/node/bin:$PATH"
      export PATH
    fi
    ;;
esac
