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
# One run, one summary: unit tests first (seconds), then integration tests one file at a time,
# since they share the servers.
node --import tsx --test --test-concurrency=1 --test-reporter=spec "${unit[@]}" "${integration[@]}"
