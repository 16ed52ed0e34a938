#!/usr/bin/env bash
# The Slurm deployment (deploy/slurm/) against a real Slurm: Debian's slurmctld, slurmd and munge, a single-node
# cluster this script starts on this machine (as root), its own configuration in a temporary folder.
#
#   scripts/test-slurm.sh            (after `cargo build --workspace --bins`; SWEEP_BIN_DIR names other binaries)
#
# 1. scancel mid-trial: a sweep of 6 simulated trials, two workers started as a job array with
#    deploy/slurm/sweep-worker.sbatch; when both run a trial, one array task is cancelled with `scancel`. The
#    cancelled worker must hand its trial back (it drains for SWEEP_DRAIN_TIMEOUT, shorter than the trial, inside
#    Slurm's KillWait), the other worker must finish it, and every trial must end done.
# 2. time limit: a worker job with --time=1 and --signal=B:TERM@50 beside a plain one; Slurm's warning signal makes
#    the worker hand back its long trial and exit by itself before the limit (job state COMPLETED, not TIMEOUT), and
#    the other worker finishes that trial.
# Trials are simulated (the worker's --simulate: no tensors, SWEEP_SIM_EPOCH_MS per epoch) so that only the
# scheduling is under test. Prints a transcript; exits non-zero naming the first check that failed.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
say() { printf '[slurm] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (slurmd runs jobs as their users)"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    say "installing Debian's slurmctld, slurmd and munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd munge slurm-client >/dev/null
fi
BIN=${SWEEP_BIN_DIR:-$REPO/target/debug}
for b in sweep sweep-coordinator sweep-worker; do
    [ -x "$BIN/$b" ] || fail "$BIN/$b is missing: run cargo build --workspace --bins first"
done

WORK=$(mktemp -d /tmp/sweep-slurm.XXXXXX)
export SLURM_CONF=$WORK/slurm.conf
COORD_PID=""
STARTED_MUNGE=""
cleanup() {
    set +e
    scancel --quiet --full "--name=sweep-worker" 2>/dev/null
    [ -n "$COORD_PID" ] && kill "$COORD_PID" 2>/dev/null && wait "$COORD_PID" 2>/dev/null
    for d in slurmd slurmctld; do
        [ -s "$WORK/$d.pid" ] && kill "$(cat "$WORK/$d.pid")" 2>/dev/null
    done
    sleep 1
    [ -n "$STARTED_MUNGE" ] && pkill -x munged
    [ -n "${KEEP_SLURM_WORK:-}" ] && say "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- a single-node Slurm ------------------------------------------------------------------------------------
if ! pgrep -x munged >/dev/null; then
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none;
        chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key; }
    runuser -u munge -- /usr/sbin/munged
    STARTED_MUNGE=1
fi
NODE=$(hostname -s)
mkdir -p "$WORK/state" "$WORK/spool" "$WORK/log"
cat > "$SLURM_CONF" <<EOF
ClusterName=sweeptest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
KillWait=30
MinJobAge=600
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
/usr/sbin/slurmctld -f "$SLURM_CONF"
/usr/sbin/slurmd -f "$SLURM_CONF"
for _ in $(seq 60); do
    sinfo -h -o %T 2>/dev/null | grep -q idle && break
    sleep 0.5
done
sinfo -h -o %T | grep -q idle || fail "the node did not come up idle: $(tail -3 "$WORK"/log/*.log)"
say "Slurm $(sinfo -V | awk '{print $2}') up: $(sinfo -h -o '%P %D node(s) %T %c CPUs')"

# --- a coordinator with tokens ------------------------------------------------------------------------------
umask 077
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/client.token"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/worker.token"
PORT=$(free_port)
"$BIN/sweep-coordinator" --listen "127.0.0.1:$PORT" --db "$WORK/sweep.db" --lease-ms 5000 \
    --client-tokens-file "$WORK/client.token" --worker-tokens-file "$WORK/worker.token" \
    2> "$WORK/coordinator.log" &
COORD_PID=$!
# The client's flags; the workers get their own token from their settings file (the environment would override it).
cli() { "$BIN/sweep" --coordinator "http://127.0.0.1:$PORT" --token-file "$WORK/client.token" "$@"; }
for _ in $(seq 100); do cli health >/dev/null 2>&1 && break; sleep 0.1; done
cli health >/dev/null || fail "the coordinator did not come up: $(tail -3 "$WORK/coordinator.log")"

# The workers' settings file, as an administrator would write it (deploy/worker.toml).
cat > "$WORK/worker.toml" <<EOF
coordinator = "http://127.0.0.1:$PORT"
token_file = "$WORK/worker.token"
data_roots = ["$REPO"]
cache_dir = "$WORK/cache"
EOF
export SWEEP_WORKER_CONFIG=$WORK/worker.toml SWEEP_WORKER_BIN=$BIN/sweep-worker
unset SWEEP_COORDINATOR SWEEP_TOKEN_FILE SWEEP_CA_CERT SWEEP_STATE_DIR SWEEP_NAME SWEEP_THREADS SWEEP_SLOTS SWEEP_DATA_ROOT

# sweep_file NAME SEEDS EPOCHS: a grid of simulated trials (one per seed), 1 + EPOCHS epochs.
sweep_file() {
    cat <<EOF
name: $1
metric: {name: val_acc, goal: maximize}
method: grid
max_attempts: 2
base:
  input_size: 32
  data: {dir: data/mnist, train: 300, val: 100, test: 100}
  backbone: {weights: data/backbone/resnet18-fashion-32.safetensors}
  phase1: {epochs: 1}
  phase2: {epochs: $3}
parameters:
  seed: {values: [$2]}
EOF
}
submit() { sweep_file "$@" > "$WORK/$1.yaml"; cli submit "$WORK/$1.yaml"; }
# running_on WORKER_NAME SWEEP: the trial the worker runs now (empty if none); the coordinator's worker ids are
# the name, a dash and a suffix.
running_on() {
    cli leaderboard "$2" --format csv 2>/dev/null |
        awk -F, -v w="$1" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
            $col["state"] == "running" && index($col["worker"], w "-") == 1 { print $col["trial"] }'
}
job_state() { scontrol -o show job "$1" 2>/dev/null | head -1 | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
# wait_done SWEEP SECS: waits for the sweep to end; fails if it does not.
wait_done() {
    timeout "$2" "$BIN/sweep" --coordinator "http://127.0.0.1:$PORT" --token-file "$WORK/client.token" watch "$1" > "$WORK/$1.watch" 2>&1 || fail "sweep $1 did not finish in $2 s: $(tail -5 "$WORK/$1.watch")"
}
# leases_of SWEEP TRIAL: "worker-name attempt" lines, in lease order (read after the coordinator stopped).
leases_of() {
    python3 - "$WORK/sweep.db" "$1" "$2" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
for name, attempt in db.execute(
        "SELECT w.hostname, l.attempt FROM lease_requests l JOIN workers w ON w.id = l.worker_id "
        "WHERE l.sweep_id = ? AND l.trial_id LIKE ? ORDER BY l.seq", (sys.argv[2], sys.argv[3] + "%")):
    print(name, attempt)
EOF
}
trial_states() {
    python3 - "$WORK/sweep.db" "$1" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
print(" ".join(f"{s}={n}" for s, n in db.execute(
    "SELECT state, count(*) FROM trials WHERE sweep_id = ? GROUP BY state ORDER BY state", (sys.argv[2],))))
EOF
}

# --- 1. scancel mid-trial -----------------------------------------------------------------------------------
SWEEP1=$(submit scancel "1, 2, 3, 4, 5, 6" 5)
say "sweep $SWEEP1: 6 simulated trials of 6 epochs x 1 s"
ARRAY=$(SWEEP_SIM_EPOCH_MS=1000 SWEEP_DRAIN_TIMEOUT=2 sbatch --parsable --array=0-1 --cpus-per-task=1 \
    --chdir="$REPO" --output="$WORK/worker-%A_%a.out" deploy/slurm/sweep-worker.sbatch --simulate)
ARRAY=${ARRAY%%;*}
say "job array $ARRAY: two sweep-worker daemons"
VICTIM="$NODE-slurm-${ARRAY}_1"
TRIAL=""
for _ in $(seq 300); do
    TRIAL=$(running_on "$VICTIM" "$SWEEP1")
    [ -n "$TRIAL" ] && [ -n "$(running_on "$NODE-slurm-${ARRAY}_0" "$SWEEP1")" ] && break
    sleep 0.2
done
[ -n "$TRIAL" ] || fail "worker $VICTIM never ran a trial: $(cat "$WORK"/worker-*_1.out)"
sleep 1.5
say "scancel ${ARRAY}_1 while it runs trial $TRIAL"
scancel "${ARRAY}_1"
wait_done "$SWEEP1" 120
for _ in $(seq 100); do [ "$(job_state "${ARRAY}_1")" = CANCELLED ] && break; sleep 0.2; done
grep -q "handed trial" "$WORK/worker-${ARRAY}_1.out" || fail "the cancelled worker did not hand its trial back: $(tail -5 "$WORK/worker-${ARRAY}_1.out")"
scancel "$ARRAY"

# --- 2. the time limit's warning signal -----------------------------------------------------------------------
SWEEP2=$(submit timelimit "11, 12" 118)
say "sweep $SWEEP2: 2 simulated trials of 119 epochs x 0.5 s (60 s each)"
LIMITED=$(SWEEP_SIM_EPOCH_MS=500 SWEEP_DRAIN_TIMEOUT=5 SWEEP_NAME="$NODE-limited" sbatch --parsable --array=0 --time=1 \
    --signal=B:TERM@50 --cpus-per-task=1 --chdir="$REPO" --output="$WORK/limited.out" \
    deploy/slurm/sweep-worker.sbatch --simulate)
OTHER=$(SWEEP_SIM_EPOCH_MS=500 SWEEP_NAME="$NODE-other" sbatch --parsable --array=0 --cpus-per-task=1 --chdir="$REPO" \
    --output="$WORK/other.out" deploy/slurm/sweep-worker.sbatch --simulate)
LIMITED=${LIMITED%%;*}_0 OTHER=${OTHER%%;*}_0
say "job $LIMITED: --time=1 --signal=B:TERM@50; job $OTHER: no limit"
wait_done "$SWEEP2" 240
for _ in $(seq 100); do s=$(job_state "$LIMITED"); [ -n "$s" ] && [ "$s" != RUNNING ] && break; sleep 0.2; done
LIMITED_STATE=$(job_state "$LIMITED")
scancel "$OTHER"

# --- the record ---------------------------------------------------------------------------------------------
kill "$COORD_PID"; wait "$COORD_PID" || true; COORD_PID=""
say "sweep $SWEEP1 trials: $(trial_states "$SWEEP1")"
say "trial $TRIAL leases (worker attempt): $(leases_of "$SWEEP1" "$TRIAL" | paste -sd, -)"
[ "$(trial_states "$SWEEP1")" = "done=6" ] || fail "sweep $SWEEP1 did not end with 6 trials done"
leases_of "$SWEEP1" "$TRIAL" | head -1 | grep -q "^$VICTIM " || fail "trial $TRIAL was not first leased by $VICTIM"
leases_of "$SWEEP1" "$TRIAL" | tail -1 | grep -q "^$NODE-slurm-${ARRAY}_0 " \
    || fail "trial $TRIAL was not finished by the other worker"

say "sweep $SWEEP2 trials: $(trial_states "$SWEEP2"); job $LIMITED ended $LIMITED_STATE"
[ "$(trial_states "$SWEEP2")" = "done=2" ] || fail "sweep $SWEEP2 did not end with 2 trials done"
[ "$LIMITED_STATE" = COMPLETED ] || fail "the time-limited job ended $LIMITED_STATE, not COMPLETED (drained before the limit): $(tail -5 "$WORK/limited.out")"
grep -q "handed trial" "$WORK/limited.out" || fail "the time-limited worker handed nothing back: $(tail -5 "$WORK/limited.out")"
HANDED=$(grep -o "handed trial [0-9a-f]*" "$WORK/limited.out" | head -1 | awk '{print $3}')
say "trial $HANDED leases (worker attempt): $(leases_of "$SWEEP2" "$HANDED" | paste -sd, -)"
leases_of "$SWEEP2" "$HANDED" | tail -1 | grep -q "^$NODE-other " || fail "trial $HANDED was not finished by $NODE-other"
say "passed: scancel and the time-limit warning both drained and handed back; every trial done, none lost"
