#!/usr/bin/env bash
# Search that spends less, measured on the real pipeline (real MNIST, real libtorch), side by side on one machine:
#   asha: sweeps/grid.yaml (36 trials, 3 + 7 epochs) without early stopping, then sweeps/asha.yaml (the same grid
#         with `early_stop: asha`), back to back: wall time, epochs run, best trial and its val/test.
#   tpe:  TPE against random search of the same budget over continuous ranges (lr_backbone log-uniform
#         1e-6..1e-2, lr_head log-uniform 1e-5..1e-1, label_smoothing uniform 0..0.2), seeds 1, 2, 3, alternating
#         tpe and random per seed: best val accuracy of each sweep and the median of each method.
#
#   scripts/bench/search.sh [asha|tpe|all]
#
# Both sweeps of a pair use the same reduced split (TRAIN/VAL/TEST, default 2,000 / 500 / 500, so the grid fits in
# a quarter of an hour on 2 cores; the full 10,000 / 2,000 / 2,000 with TRAIN=10000 VAL=2000 TEST=2000), 2 workers
# of one thread each. BIN names the folder with `sweep` and `sweep-worker` (default target/release, else
# target/debug). Results land in OUT (default runs/bench-search): one folder per sweep and summary.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
WHAT=${1:-all}
case "$WHAT" in asha|tpe|all) ;; *) echo "usage: $0 [asha|tpe|all]" >&2; exit 2 ;; esac
BIN=${BIN:-}
if [ -z "$BIN" ]; then
    if [ -x target/release/sweep ] && [ -x target/release/sweep-worker ]; then BIN=target/release; else BIN=target/debug; fi
fi
for b in sweep sweep-worker; do
    [ -x "$BIN/$b" ] || { echo "$BIN/$b is missing: build it first (cargo build -p sweep-cli -p sweep-worker)" >&2; exit 1; }
done
TRAIN=${TRAIN:-2000} VAL=${VAL:-500} TEST=${TEST:-500}
OUT=${OUT:-runs/bench-search}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
say() { echo "$*" | tee -a "$SUMMARY"; }
: > "$SUMMARY"
say "cpu: $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed "s/^ *//"), $(nproc) cores; binaries: $BIN"
say "split: train $TRAIN, val $VAL, test $TEST; 2 workers x 1 thread"

# `reduced FILE NAME`: FILE with the reduced split and NAME, on stdout.
reduced() {
    sed -e "s|^  data: {.*}|  data: {dir: data/mnist, train: $TRAIN, val: $VAL, test: $TEST, split_seed: 0}|" \
        -e "s|^name: .*|name: $2|" "$1"
}

# `run_sweep LABEL FILE`: runs FILE in OUT/LABEL (fresh), records its wall time in OUT/LABEL/wall_s and its
# leaderboard in OUT/LABEL/board.json.
run_sweep() {
    local label=$1 file=$2 dir="$OUT/$1"
    rm -rf "$dir" && mkdir -p "$dir"
    local t0 t1
    t0=$(date +%s.%N)
    "$BIN/sweep" run "$file" --workers 2 --dir "$dir" --fresh --top 0 --worker-bin "$BIN/sweep-worker" \
        > "$dir/run.txt" 2> "$dir/run.err"
    t1=$(date +%s.%N)
    "$PY" -c "print(round($t1 - $t0, 3))" > "$dir/wall_s"
    local id
    id=$("$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select id from sweeps").fetchone()[0])' "$dir/sweep.db")
    "$BIN/sweep" leaderboard "$id" --db "$dir/sweep.db" --format json --top 0 > "$dir/board.json"
    "$BIN/sweep" status "$id" --db "$dir/sweep.db" > "$dir/status.txt"
}

# `summarise LABEL...`: one line per sweep (wall, epochs, best trial) and, for two labels, the ratio.
summarise() {
    "$PY" - "$OUT" "$@" <<'PY' | tee -a "$SUMMARY"
import json, sys
out, labels = sys.argv[1], sys.argv[2:]
walls = {}
for label in labels:
    board = json.load(open(f"{out}/{label}/board.json"))
    wall = float(open(f"{out}/{label}/wall_s").read())
    walls[label] = wall
    run = sum(e["epochs_done"] for e in board)
    total = sum(e["total_epochs"] for e in board)
    states = {}
    for e in board:
        states[e["state"]] = states.get(e["state"], 0) + 1
    best = next(e for e in board if e["rank"] == 1)
    params = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(best["params"].items()))
    print(f"{label:>14}: wall {wall:7.1f} s, epochs {run}/{total}, states {states}, "
          f"best {best['trial_id']} val {best['metric']:.4f} test {best['test_acc']:.4f} ({best['state']}) [{params}]")
if len(labels) == 2:
    a, b = labels
    print(f"{'':>14}  wall {a} / {b}: {walls[a] / walls[b]:.2f}x")
PY
}

if [ "$WHAT" = asha ] || [ "$WHAT" = all ]; then
    reduced sweeps/grid.yaml bench-grid > "$OUT/grid.yaml"
    reduced sweeps/asha.yaml bench-grid-asha > "$OUT/asha.yaml"
    # The two files differ only in their name and early_stop (comments aside).
    diff <(grep -v -e '^#' -e '^name:' -e '^early_stop:' "$OUT/grid.yaml") \
         <(grep -v -e '^#' -e '^name:' -e '^early_stop:' "$OUT/asha.yaml") > /dev/null \
        || { echo "sweeps/grid.yaml and sweeps/asha.yaml differ beyond early_stop" >&2; exit 1; }
    run_sweep grid "$OUT/grid.yaml"
    run_sweep grid-asha "$OUT/asha.yaml"
    summarise grid grid-asha
    "$PY" - "$OUT" <<'PY' | tee -a "$SUMMARY"
import json, sys
out = sys.argv[1]
best = [next(e for e in json.load(open(f"{out}/{l}/board.json")) if e["rank"] == 1) for l in ("grid", "grid-asha")]
print("same best configuration:", "yes" if best[0]["params"] == best[1]["params"] else "NO")
PY
fi

if [ "$WHAT" = tpe ] || [ "$WHAT" = all ]; then
    COUNT=${COUNT:-16}
    for seed in 1 2 3; do
        for method in tpe random; do
            f="$OUT/$method-$seed.yaml"
            cat > "$f" <<YAML
name: bench-$method-$seed
metric: {name: val_acc, goal: maximize}
method: $method
count: $COUNT
random_seed: $seed
$( [ "$method" = tpe ] && echo "startup_trials: 6" )
max_attempts: 2
base:
  input_size: 32
  data: {dir: data/mnist, train: $TRAIN, val: $VAL, test: $TEST, split_seed: 0}
  backbone: {weights: data/backbone/resnet18-fashion-32.safetensors}
  phase1: {epochs: 1}
  phase2: {epochs: 2, unfreeze: [all]}
parameters:
  phase2.lr_backbone: {log_uniform: [1.0e-6, 1.0e-2]}
  phase2.lr_head: {log_uniform: [1.0e-5, 1.0e-1]}
  loss.label_smoothing: {uniform: [0.0, 0.2]}
YAML
            run_sweep "$method-$seed" "$f"
            summarise "$method-$seed"
        done
    done
    "$PY" - "$OUT" <<'PY' | tee -a "$SUMMARY"
import json, statistics, sys
out = sys.argv[1]
for method in ("tpe", "random"):
    best = [max(e["metric"] for e in json.load(open(f"{out}/{method}-{s}/board.json")) if e["metric"] is not None)
            for s in (1, 2, 3)]
    print(f"{method:>6}: best val per seed {', '.join(f'{b:.4f}' for b in best)}; median {statistics.median(best):.4f}")
PY
fi
