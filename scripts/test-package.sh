#!/usr/bin/env bash
# The relocatable worker (scripts/package-worker.sh) away from everything it was built with: the tarball is unpacked
# into an empty folder outside the repository and run in a mount namespace where the project's .venv (the libtorch
# it was built against) is hidden under an empty tmpfs, with no LD_LIBRARY_PATH. There it must
#   1. run a small real trial on its own (sweep-worker train: real MNIST, real libtorch, 32 px, 1 + 1 epochs), and
#   2. serve a coordinator as a daemon from a settings file (sweep-worker run --config), finishing a real sweep.
#
#   scripts/test-package.sh        (as root, after cargo build --workspace --bins; packages the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
say() { printf '[package-test] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (unshare --mount hides the venv)"
BIN=${SWEEP_BIN_DIR:-$REPO/target/debug}

WORK=$(mktemp -d /tmp/sweep-package.XXXXXX)
COORD_PID=""
DAEMON=""
cleanup() {
    [ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
    [ -n "$COORD_PID" ] && kill "$COORD_PID" 2>/dev/null && wait "$COORD_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

TARBALL=$(scripts/package-worker.sh -p debug -o "$WORK/dist")
mkdir -p "$WORK/host"
tar -C "$WORK/host" -xzf "$TARBALL"
WORKER=$(echo "$WORK"/host/sweep-worker-*/bin/sweep-worker)
say "unpacked $(basename "$TARBALL") ($(du -sh "$WORK/host" | cut -f1)) into $WORK/host"

# The worker's own folder: the data a sweep names (copied, so nothing is read from the repository).
mkdir -p "$WORK/host/data/backbone"
cp -r data/mnist "$WORK/host/data/mnist"
cp data/backbone/resnet18-fashion-32.safetensors "$WORK/host/data/backbone/"
VENV=$(readlink -f .venv)
TORCH_LIB=$(readlink -f .venv/libtorch)/lib

# isolated CMD...: CMD with the venv hidden, no LD_LIBRARY_PATH, in the worker's folder.
isolated() {
    unshare --mount --propagation private -- env -u LD_LIBRARY_PATH VENV="$VENV" DIR="$WORK/host" sh -c \
        'mount -t tmpfs -o size=1m none "$VENV" && cd "$DIR" && exec "$@"' isolated "$@"
}
isolated sh -c "test ! -e '$TORCH_LIB/libtorch_cpu.so'" || fail "the venv's libtorch is still visible"
libs=$(isolated ldd "$WORKER" | awk '$2 == "=>" { print $3 }')
echo "$libs" | grep -q "^$WORK/host/.*/lib/libtorch_cpu.so$" || fail "libtorch_cpu does not come from the bundle: $libs"
if echo "$libs" | grep -q "not\|$VENV"; then fail "a library resolves outside the bundle: $libs"; fi

# 1. One trial on its own.
cat > "$WORK/host/trial.yaml" <<EOF
input_size: 32
data: {dir: data/mnist, train: 300, val: 100, test: 100}
backbone: {weights: data/backbone/resnet18-fashion-32.safetensors}
phase1: {epochs: 1}
phase2: {epochs: 1}
threads: 1
EOF
isolated "$WORKER" train trial.yaml --out result.json 2> "$WORK/train.log" || fail "train: $(tail -3 "$WORK/train.log")"
acc=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["test"]["acc"])' "$WORK/host/result.json")
say "trial alone: test accuracy $acc (300 training images, 1 + 1 epochs)"

# 2. A daemon from a settings file, against a coordinator with tokens.
umask 077
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/client.token"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/worker.token"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN/sweep-coordinator" --listen "127.0.0.1:$PORT" --db "$WORK/sweep.db" \
    --client-tokens-file "$WORK/client.token" --worker-tokens-file "$WORK/worker.token" 2> "$WORK/coordinator.log" &
COORD_PID=$!
cli() { "$BIN/sweep" --coordinator "http://127.0.0.1:$PORT" --token-file "$WORK/client.token" "$@"; }
for _ in $(seq 100); do cli health >/dev/null 2>&1 && break; sleep 0.1; done
cat > "$WORK/sweep.yaml" <<EOF
name: relocated
metric: {name: val_acc, goal: maximize}
method: grid
base:
  input_size: 32
  data: {dir: data/mnist, train: 300, val: 100, test: 100}
  backbone: {weights: data/backbone/resnet18-fashion-32.safetensors}
  phase1: {epochs: 1}
  phase2: {epochs: 1}
parameters:
  phase2.lr_head: {values: [1.0e-3, 3.0e-3]}
EOF
SWEEP=$(cli submit "$WORK/sweep.yaml")
cat > "$WORK/host/worker.toml" <<EOF
coordinator = "http://127.0.0.1:$PORT"
token_file = "$WORK/worker.token"
slots = 1
threads = 2
state_dir = "$WORK/host/state"
data_roots = ["$WORK/host/data"]
cache_dir = "$WORK/host/cache"
EOF
# Started directly (not through the shell function, which would run in a subshell): $! is then the process that
# becomes the worker (unshare, env and sh each exec the next), so the TERM below reaches the daemon itself.
unshare --mount --propagation private -- env -u LD_LIBRARY_PATH VENV="$VENV" DIR="$WORK/host" sh -c \
    'mount -t tmpfs -o size=1m none "$VENV" && cd "$DIR" && exec "$@"' isolated "$WORKER" run --config worker.toml \
    2> "$WORK/daemon.log" &
DAEMON=$!
timeout 600 "$BIN/sweep" --coordinator "http://127.0.0.1:$PORT" --token-file "$WORK/client.token" watch "$SWEEP" \
    > "$WORK/watch.log" 2>&1 || { kill "$DAEMON"; fail "the sweep did not finish: $(tail -3 "$WORK/daemon.log")"; }
kill -TERM "$DAEMON"; wait "$DAEMON" || true
ps -p "$DAEMON" >/dev/null 2>&1 && fail "the daemon did not stop on SIGTERM"
DAEMON=""
cli leaderboard "$SWEEP" --format csv > "$WORK/board.csv"
done=$(grep -c ',done,' "$WORK/board.csv" || true)
[ "$done" = 2 ] || fail "expected 2 trials done by the relocated daemon: $(cat "$WORK/board.csv")"
grep -q "worker.toml\|serving http://127.0.0.1:$PORT" "$WORK/daemon.log" || fail "the daemon did not start from its settings file"
say "daemon from worker.toml: sweep $SWEEP, 2 trials done"
cat "$WORK/board.csv" >&2
say "passed: the tarball runs a trial and a daemon with the venv hidden"
