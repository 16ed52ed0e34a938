#!/usr/bin/env bash
# Installs whatever is missing (scripts/setup.sh, debug build) and runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=debug scripts/setup.sh
cargo test --workspace
