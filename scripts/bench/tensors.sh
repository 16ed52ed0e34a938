#!/usr/bin/env bash
# Cheaper tensors, measured on the real pipeline (real MNIST, real libtorch): one trial per variant, the variants
# interleaved (A B C A B C ...) so that a noisy neighbour hits them alike, REPS rounds, one size at a time.
#   3ch:        the seed's 3-channel normalised input, NCHW (SWEEP_FOLD=off SWEEP_LAYOUT=nchw): the path before
#   fold:       gray 1-channel input, replication and normalisation folded into conv1, NCHW (SWEEP_LAYOUT=nchw)
#   fold+cl:    the fold, activations channels-last (SWEEP_LAYOUT=channels_last)
#   native28:   (only with SIZES containing 28) the fold at MNIST's own 28 px, no resize at all
#
#   scripts/bench/tensors.sh            # SIZES="32 224", the seed's recipe (phase 2 unfreezes layer4)
#   RECIPE=all scripts/bench/tensors.sh # phase 2 unfreezes everything (backbone LR 1e-3)
#
# Prints, per size and variant: median wall time of the trial, phase 1 and phase 2 training throughput, best val
# and test accuracy, and the wall ratio against 3ch; then the largest difference of any epoch's val accuracy from
# 3ch's (the variants compute the same function up to float rounding, so the curves agree closely, not exactly).
# Split: TRAIN/VAL/TEST (default 2,000 / 500 / 500 at 32 px; 500 / 200 / 200 at 224 px), EPOCHS1/EPOCHS2 (1 + 1),
# THREADS (2). BIN: the folder with sweep-worker (default target/release, else target/debug). Results in OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-}
if [ -z "$BIN" ]; then
    if [ -x target/release/sweep-worker ]; then BIN=target/release; else BIN=target/debug; fi
fi
[ -x "$BIN/sweep-worker" ] || { echo "$BIN/sweep-worker is missing: build it first (cargo build -p sweep-worker)" >&2; exit 1; }
SIZES=${SIZES:-32 224}
RECIPE=${RECIPE:-seed}
REPS=${REPS:-2}
THREADS=${THREADS:-2}
EPOCHS1=${EPOCHS1:-1} EPOCHS2=${EPOCHS2:-1}
OUT=${OUT:-runs/bench-tensors}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
: > "$OUT/walls.txt"
echo "cpu: $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed "s/^ *//"), $(nproc) cores; binary: $BIN; recipe: $RECIPE; $THREADS threads; $REPS rounds"

config() { # config SIZE: the trial config at SIZE px
    local size=$1 train val test
    if [ "$size" -ge 64 ]; then train=${TRAIN:-500} val=${VAL:-200} test=${TEST:-200}; else train=${TRAIN:-2000} val=${VAL:-500} test=${TEST:-500}; fi
    echo "input_size: $size"
    echo "threads: $THREADS"
    echo "data: {dir: data/mnist, train: $train, val: $val, test: $test, split_seed: 0}"
    echo "backbone: {weights: data/backbone/resnet18-fashion-32.safetensors}"
    echo "phase1: {epochs: $EPOCHS1}"
    if [ "$RECIPE" = all ]; then
        echo "phase2: {epochs: $EPOCHS2, unfreeze: [all], lr_backbone: 1.0e-3}"
    else
        echo "phase2: {epochs: $EPOCHS2}"
    fi
}

for size in $SIZES; do
    variants="3ch fold fold+cl"
    [ "$size" = 28 ] && variants="fold"
    config "$size" > "$OUT/$size.yaml"
    for round in $(seq 1 "$REPS"); do
        for v in $variants; do
            case $v in
                3ch) envs=(SWEEP_FOLD=off SWEEP_LAYOUT=nchw) ;;
                fold) envs=(SWEEP_LAYOUT=nchw) ;;
                fold+cl) envs=(SWEEP_LAYOUT=channels_last) ;;
            esac
            label=$([ "$size" = 28 ] && echo native28 || echo "$v")
            t0=$(date +%s.%N)
            env "${envs[@]}" "$BIN/sweep-worker" train "$OUT/$size.yaml" --out "$OUT/$size-$label-$round.json" \
                2> "$OUT/$size-$label-$round.log"
            t1=$(date +%s.%N)
            echo "$size $label $round $(echo "$t1 - $t0" | bc)" >> "$OUT/walls.txt"
            echo "  $size px $label round $round: $(echo "$t1 - $t0" | bc | cut -c1-6) s"
        done
    done
done

"$PY" - "$OUT" $SIZES <<'PY'
import json, statistics, sys, glob, os
out, sizes = sys.argv[1], sys.argv[2:]
walls = {}
for line in open(os.path.join(out, "walls.txt")):
    size, label, rnd, wall = line.split()
    walls.setdefault((size, label), []).append(float(wall))
print(f"{'size':>5} {'variant':<9} {'wall (median)':>14} {'phase 1 img/s':>14} {'phase 2 img/s':>14} {'best val':>9} {'test':>7} {'vs 3ch':>7} {'max |Δ val| per epoch':>22}")
for size in sizes:
    base = walls.get((size, "3ch"))
    ref = None
    f = sorted(glob.glob(os.path.join(out, f"{size}-3ch-*.json")))
    if f:
        ref = json.load(open(f[-1]))
    for label in ("3ch", "fold", "fold+cl", "native28"):
        files = sorted(glob.glob(os.path.join(out, f"{size}-{label}-*.json")))
        if (size, label) not in walls or not files:
            continue
        r = json.load(open(files[-1]))
        wall = statistics.median(walls[(size, label)])
        ph = {p["phase"]: p["train_images_per_s"] for p in r["phases"]}
        ratio = f"{statistics.median(base) / wall:.2f}x" if base else "-"
        diff = "-"
        if ref and label != "3ch":
            diff = f"{max(abs(a['val_acc'] - b['val_acc']) for a, b in zip(r['epochs'], ref['epochs'])):.4f}"
        print(f"{size:>5} {label:<9} {wall:>12.1f} s {ph.get(1, 0):>14.1f} {ph.get(2, 0):>14.1f} {r['best_val_acc']:>9.4f} {r['test']['acc']:>7.4f} {ratio:>7} {diff:>22}")
PY
