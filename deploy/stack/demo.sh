#!/usr/bin/env bash
# `npm run demo`: installs what is missing, then runs the pipeline end to end on the local stack
# for about a minute (loadtest/demo.ts) and prints a report. The stack stays up afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/stack/install.sh
exec node --import tsx loadtest/demo.ts "$@"
