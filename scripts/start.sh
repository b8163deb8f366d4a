#!/usr/bin/env bash
# `npm start`: makes sure system packages and npm dependencies are present, builds, then runs the
# dev platform (emulators + functions + topology + demo seed) in the foreground with persistent
# data under .scriptorium/dev/. Ctrl-C stops everything; `npm run stop` does too, from another shell.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/ensure-system-deps.sh

# npm install only when needed: it is slow even with nothing to do. node_modules/.package-lock.json
# is npm's own record of the installed tree; it is touched after each install we run.
stamp=node_modules/.package-lock.json
if [[ ! -d node_modules || ! -f $stamp || package-lock.json -nt $stamp || package.json -nt $stamp ]]; then
  npm install --no-audit --no-fund
  touch "$stamp"
fi

npm run build

# exec: the platform CLI receives Ctrl-C / SIGTERM itself and stops every process group it started.
exec node dist/emulators/cli.js start --profile dev --persist "$@"
