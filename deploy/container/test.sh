#!/usr/bin/env bash
# The images and compose.yaml, run for real with podman: builds the images (build.sh), makes a lab CA, a coordinator
# certificate, tokens and a data folder the way deploy/README.md says, starts compose.yaml with two workers
# (podman-compose, deploy.replicas), submits a small real sweep from the host over TLS with a client token, waits for it, and checks
# every trial is done, run by the containerised workers. Then `podman-compose down`: the workers stop on SIGTERM.
#
#   deploy/container/test.sh [-p release|debug]      (as root; default debug, the build CI makes)
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
say() { printf '[container-test] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }
PROFILE=debug
[ "${1:-}" = "-p" ] && PROFILE=$2
export CONTAINERS_CONF=${CONTAINERS_CONF:-$REPO/deploy/container/containers.conf}
command -v podman-compose >/dev/null || { say "installing Debian's podman-compose"; apt-get update -qq;
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman-compose >/dev/null; }

deploy/container/build.sh -p "$PROFILE"

WORK=$(mktemp -d /tmp/sweep-compose.XXXXXX)
cp deploy/container/compose.yaml "$WORK/"
compose() { (cd "$WORK" && podman-compose -p sweeptest "$@"); }
cleanup() {
    set +e
    compose down -v >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

# Secrets, as deploy/README.md makes them (the certificate names the service and localhost).
mkdir -p "$WORK/secrets" "$WORK/data/backbone"
(
    cd "$WORK/secrets" && umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=sweep test CA" \
        -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=coordinator" \
        -addext "subjectAltName=DNS:coordinator,DNS:localhost" -keyout coordinator.key -out coordinator.csr 2>/dev/null
    openssl x509 -req -in coordinator.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -copy_extensions copy \
        -out coordinator.pem 2>/dev/null
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > client.tokens
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > worker.token
    cp worker.token worker.tokens
    # The containers run as uid 10001.
    chown 10001:10001 ./* && chmod 0400 ./*.key ./*.token ./*.tokens && chmod 0444 ca.pem coordinator.pem
)
cp -r data/mnist "$WORK/data/mnist"
cp data/backbone/resnet18-fashion-32.safetensors "$WORK/data/backbone/"

compose up -d > "$WORK/up.log" 2>&1 || fail "compose up: $(tail -5 "$WORK/up.log")"
cli() { "$REPO/target/debug/sweep" --coordinator https://localhost:50051 --ca-cert "$WORK/secrets/ca.pem" \
    --token-file "$WORK/secrets/client.tokens" "$@"; }
for _ in $(seq 150); do cli health >/dev/null 2>&1 && break; sleep 0.2; done
cli health >/dev/null || fail "the coordinator container does not answer: $(compose logs coordinator 2>&1 | tail -5)"
WORKERS=$(podman ps --format '{{.Names}}' | grep -c '^sweeptest_worker')
[ "$WORKERS" = 2 ] || fail "expected 2 worker containers (deploy.replicas), found $WORKERS"
say "coordinator container SERVING over TLS; $WORKERS worker containers"

cat > "$WORK/sweep.yaml" <<EOF
name: containers
metric: {name: val_acc, goal: maximize}
method: grid
base:
  input_size: 32
  threads: 1
  data: {dir: data/mnist, train: 300, val: 100, test: 100}
  backbone: {weights: data/backbone/resnet18-fashion-32.safetensors}
  phase1: {epochs: 1}
  phase2: {epochs: 1}
parameters:
  phase2.lr_head: {values: [1.0e-3, 3.0e-3]}
EOF
SWEEP=$(cli submit "$WORK/sweep.yaml")
timeout 600 "$REPO/target/debug/sweep" --coordinator https://localhost:50051 --ca-cert "$WORK/secrets/ca.pem" \
    --token-file "$WORK/secrets/client.tokens" watch "$SWEEP" > "$WORK/watch.log" 2>&1 \
    || fail "sweep $SWEEP did not finish: $(compose logs worker 2>&1 | tail -8)"
cli leaderboard "$SWEEP" --format csv > "$WORK/board.csv"
[ "$(grep -c ',done,' "$WORK/board.csv")" = 2 ] || fail "expected 2 trials done: $(cat "$WORK/board.csv")"
WORKED=$(grep ',done,' "$WORK/board.csv" | awk -F, '{print $9}' | sort -u | wc -l)
cli workers --format csv > "$WORK/workers.csv"
cat "$WORK/board.csv" "$WORK/workers.csv" >&2
compose down -v > "$WORK/down.log" 2>&1 || fail "compose down: $(tail -5 "$WORK/down.log")"
say "passed: images built from Debian's packages, compose up with 2 worker containers ($WORKED ran trials), a real sweep done over TLS"
