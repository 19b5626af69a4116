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
logs=$(mktemp -d)
cleanup() {
  if [ "$started_stack" = 1 ]; then cli stack down || true; fi
  rm -rf "$logs"
}
trap cleanup EXIT

mapfile -t unit < <(find test/unit -name '*.test.ts' | sort)
mapfile -t integration < <(find test/integration -name '*.test.ts' 2>/dev/null | sort)
# Which integration files run how (each list says why a file is on it):
# - run-alone.txt: they assert timing bounds a second test's load would break: one at a time, last;
# - beside-unit-shared.txt: they stop, freeze or reconfigure the shared stack but assert no timing:
#   one at a time while the unit tests run (which touch no server) — the stack is theirs then;
# - beside-unit-private.txt: a private stack each, no timing bound: each on its own beside the unit tests;
# - the others: two at a time, each with its own topics, databases, ports and accounts.
list() { sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' -e 's|^|test/integration/|' "$1"; }
mapfile -t alone < <(list test/integration/run-alone.txt)
mapfile -t beside_shared < <(list test/integration/beside-unit-shared.txt)
mapfile -t beside_private < <(list test/integration/beside-unit-private.txt)
shared=()
for file in "${integration[@]}"; do
  if ! printf '%s\n' "${alone[@]}" "${beside_shared[@]}" "${beside_private[@]}" | grep -qxF "$file"; then shared+=("$file"); fi
done
# Every group always runs; any failing fails the run. A lane's output is shown when it ends.
status=0
lane_pids=()
lane_logs=()
start_lane() {
  local log
  log=$(mktemp -p "$logs" lane.XXXX)
  node --import tsx --test --test-concurrency=1 --test-reporter=spec "$@" >"$log" 2>&1 &
  lane_pids+=("$!")
  lane_logs+=("$log")
}
for file in "${beside_private[@]}"; do start_lane "$file"; done
if [ "${#beside_shared[@]}" -gt 0 ]; then start_lane "${beside_shared[@]}"; fi
# Unit tests touch no server: two files at a time (most of their time is each file's start-up).
node --import tsx --test --test-concurrency=2 --test-reporter=spec "${unit[@]}" | tee "$logs/unit" || status=1
for i in "${!lane_pids[@]}"; do
  wait "${lane_pids[$i]}" || status=1
  cat "${lane_logs[$i]}"
done
node --import tsx --test --test-concurrency=2 --test-reporter=spec "${shared[@]}" | tee "$logs/shared" || status=1
node --import tsx --test --test-concurrency=1 --test-reporter=spec "${alone[@]}" | tee "$logs/alone" || status=1
# The failures again at the very end, where a reader of a long log (CI's tail) finds them.
if [ "$status" != 0 ]; then
  for log in "$logs"/*; do sed -n '/^✖ failing tests:/,$p' "$log"; done
fi
exit "$status"
