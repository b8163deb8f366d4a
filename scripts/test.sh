#!/usr/bin/env bash
# `npm test`: the whole gate. System packages and npm dependencies, build, lint, unit tests, then
# integration and e2e tests against a test platform (ports and state distinct from the dev stack,
# so both can run at once) that is always stopped on exit. Every stage runs; the exit code is the
# first failing stage's (0 when all pass).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

bash scripts/ensure-system-deps.sh || exit $?

stamp=node_modules/.package-lock.json
if [[ ! -d node_modules ]]; then
  # A fresh checkout: exactly the lock file (fails loudly if it has drifted from package.json).
  npm ci --no-audit --no-fund || exit $?
  touch "$stamp"
elif [[ ! -f $stamp || package-lock.json -nt $stamp || package.json -nt $stamp ]]; then
  npm install --no-audit --no-fund || exit $?
  touch "$stamp"
fi

npm run build || exit $?

export SCRIPTORIUM_LOCAL_CONFIG="$root/.scriptorium/test.json"
export METADATA_SERVER_DETECTION=none
cli=(node dist/emulators/cli.js)

# Leftovers of an interrupted earlier run would hold the test ports.
"${cli[@]}" stop --profile test >/dev/null 2>&1 || true

platform_log=$(mktemp)
platform_pid=
cleanup() {
  # Interrupted while the platform was still starting: SIGTERM makes the start stop what it began.
  if [[ -n $platform_pid ]]; then
    kill -TERM "$platform_pid" 2>/dev/null
    wait "$platform_pid" 2>/dev/null
  fi
  "${cli[@]}" stop --profile test || true
  rm -f "$platform_log"
  [[ -n ${outputs:-} ]] && rm -rf "$outputs"
  return 0
}
trap cleanup EXIT

# The platform starts (mostly waiting on JVMs and the Auth emulator) while lint and unit tests run.
"${cli[@]}" start --profile test --detach >"$platform_log" 2>&1 &
platform_pid=$!

status=0
summary=()
record() { # stage exit-code
  local code=$2
  if ((code != 0)); then
    echo "✗ $1 failed (exit $code)" >&2
    summary+=("✗ $1 failed (exit $code)")
    ((status == 0)) && status=$code
  else
    echo "✓ $1"
    summary+=("✓ $1")
  fi
}

# Each stage's output is also kept, so the end of the log (all a CI page may show) repeats what
# failed: the stage, and each failing test with the lines after it (its error and location).
outputs=$(mktemp -d)
failures_of() { # tap-file
  grep -n -A 25 -E '^\s*not ok ' "$1" | grep -v -E '^[0-9]+-\s*(duration_ms|type):' | head -n 200
}

# --test-force-exit: a test file that leaves a handle open (an unclosed client) must not hang the
# gate once its tests are done; --test-timeout bounds a stuck test.

# Compiled tests whose source still exists: dist/ is never cleaned, so a deleted or renamed test
# would otherwise keep running from its stale .js.
tests_in() {
  local dir
  for dir in "$@"; do
    [[ -d dist/test/$dir ]] || continue
    find "dist/test/$dir" -name '*.test.js' | sort | while read -r js; do
      src=${js#dist/}
      [[ -f ${src%.js}.ts ]] && echo "$js"
    done
  done
}

npx eslint . 2>&1 | tee "$outputs/lint"
record lint "${PIPESTATUS[0]}"

mapfile -t unit < <(tests_in unit)
if ((${#unit[@]} == 0)); then
  record "unit tests (none found in dist/test/unit)" 1
else
  node --test --test-force-exit --test-timeout=120000 "${unit[@]}" 2>&1 | tee "$outputs/unit"
  record "unit tests" "${PIPESTATUS[0]}"
fi

wait "$platform_pid"
start_code=$?
platform_pid=
cat "$platform_log"
if ((start_code != 0)); then
  record "test platform start" "$start_code"
  exit "$status"
fi

mapfile -t slow < <(tests_in integration e2e)
if ((${#slow[@]} == 0)); then
  record "integration and e2e tests (none found)" 1
else
  node --test --test-concurrency=1 --test-force-exit --test-timeout=600000 "${slow[@]}" 2>&1 | tee "$outputs/slow"
  record "integration and e2e tests" "${PIPESTATUS[0]}"
fi

echo
echo "── summary ──"
printf '%s\n' "${summary[@]}"
if ((status != 0)); then
  for stage in lint unit slow; do
    [[ -s $outputs/$stage ]] || continue
    if [[ $stage == lint ]]; then
      grep -E 'error|✖' "$outputs/lint" | head -n 50
    else
      failures_of "$outputs/$stage"
    fi
  done
fi
rm -rf "$outputs"
exit "$status"
