#!/bin/sh
# Chooses the service: `bridge` or `aggregator` (further arguments go to it), anything else runs as given.
set -eu
service="${1:-bridge}"
[ "$#" -gt 0 ] && shift
case "$service" in
  bridge) exec node --import tsx edge/main.ts "$@" ;;
  # --max-semi-space-size: see src/aggregator/node-flags.ts.
  aggregator) exec node --max-semi-space-size=64 --import tsx src/aggregator/main.ts "$@" ;;
  *) exec "$service" "$@" ;;
esac
