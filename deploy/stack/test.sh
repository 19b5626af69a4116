#!/usr/bin/env bash
# `npm test`: installs what is missing, starts the local stack unless it already runs, runs the unit
# tests and then the integration tests against the real servers, and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/stack/install.sh

cli() { node --import tsx src/cli.ts "$@"; }
started_stack=0
if ! cli stack status >/dev/null 2>&1; then
  started_stack=1
  cli stack up
fi
cleanup() {
  if [ "$started_stack" = 1 ]; then cli stack down || true; fi
}
trap cleanup EXIT

mapfile -t unit < <(find test/unit -name '*.test.ts' | sort)
mapfile -t integration < <(find test/integration -name '*.test.ts' 2>/dev/null | sort)
# Integration files listed in test/integration/run-alone.txt (they stop, freeze or reconfigure a
# shared server, or assert timing) run one at a time; those in run-beside-unit.txt (a private stack
# of their own, no timing bound a loaded machine breaks) run while the unit tests do; the others
# two at a time.
list() { sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' -e 's|^|test/integration/|' "$1"; }
mapfile -t alone < <(list test/integration/run-alone.txt)
mapfile -t beside < <(list test/integration/run-beside-unit.txt)
shared=()
for file in "${integration[@]}"; do
  if ! printf '%s\n' "${alone[@]}" "${beside[@]}" | grep -qxF "$file"; then shared+=("$file"); fi
done
# Unit tests touch no server: two files at a time (most of their time is each file's start-up).
# Every group always runs; any failing fails the run.
status=0
beside_log=$(mktemp)
node --import tsx --test --test-concurrency=1 --test-reporter=spec "${beside[@]}" >"$beside_log" 2>&1 &
beside_pid=$!
node --import tsx --test --test-concurrency=2 --test-reporter=spec "${unit[@]}" || status=1
wait "$beside_pid" || status=1
cat "$beside_log"
rm -f "$beside_log"
node --import tsx --test --test-concurrency=2 --test-reporter=spec "${shared[@]}" || status=1
node --import tsx --test --test-concurrency=1 --test-reporter=spec "${alone[@]}" || status=1
exit "$status"
