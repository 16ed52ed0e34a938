#!/usr/bin/env bash
# Installs whatever is missing (scripts/setup.sh, release build) and runs the main job: the quick sweep on an
# embedded coordinator with two local workers, then its leaderboard. Extra arguments go to `sweep run`.
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=release scripts/setup.sh
exec target/release/sweep run sweeps/quick.yaml --workers 2 "$@"
