#!/usr/bin/env bash
# Side by side, one right after the other on the same machine: our pipeline (release build) and the seed's
# pipeline in plain PyTorch (../shared/bench/seed_reference.py), same split sizes, size and epochs, same backbone.
#   scripts/bench/pipeline_vs_reference.sh [seed|all]
# seed = the seed's recipe (phase 2 unfreezes layer4, backbone LR 1e-5); all = unfreeze all, backbone LR 1e-3.
# SIZE (default 32), TRAIN/VAL/TEST (default 10,000 / 2,000 / 2,000), P1/P2 epochs (default 3 / 7), THREADS (default
# 2, both sides), BIN (default target/release).
#   SIZE=224 TRAIN=1000 VAL=250 TEST=250 P1=1 P2=1 scripts/bench/pipeline_vs_reference.sh seed
set -euo pipefail
cd "$(dirname "$0")/../.."
# Figures from different CPUs (an Intel Xeon, an AMD EPYC) are not comparable: say which one this is.
echo "cpu: $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed "s/^ *//"), $(nproc) cores"
RECIPE=${1:-seed}
OUT=${OUT:-runs/bench}
SIZE=${SIZE:-32} TRAIN=${TRAIN:-10000} VAL=${VAL:-2000} TEST=${TEST:-2000} P1=${P1:-3} P2=${P2:-7} THREADS=${THREADS:-2}
BIN=${BIN:-target/release}
mkdir -p "$OUT/mnist-gz"
for f in data/mnist/*-ubyte; do [ -s "$OUT/mnist-gz/$(basename "$f").gz" ] || gzip -c "$f" > "$OUT/mnist-gz/$(basename "$f").gz"; done
BACKBONE=data/backbone/resnet18-fashion-32.safetensors
cat > "$OUT/$RECIPE.yaml" <<YAML
input_size: $SIZE
threads: $THREADS
data: {dir: data/mnist, train: $TRAIN, val: $VAL, test: $TEST}
backbone: {weights: $BACKBONE}
phase1: {epochs: $P1}
YAML
REF_ARGS=(--res "$SIZE" --train "$TRAIN" --val "$VAL" --test "$TEST" --p1 "$P1" --p2 "$P2" --threads "$THREADS")
if [ "$RECIPE" = all ]; then
    echo "phase2: {epochs: $P2, unfreeze: [all], lr_backbone: 1.0e-3}" >> "$OUT/$RECIPE.yaml"
    REF_ARGS+=(--unfreeze all --lr-backbone 1e-3)
else
    echo "phase2: {epochs: $P2}" >> "$OUT/$RECIPE.yaml"
fi
t0=$(date +%s.%N)
"$BIN/sweep-worker" train "$OUT/$RECIPE.yaml" --out "$OUT/ours-$RECIPE.json" 2> "$OUT/ours-$RECIPE.log"
t1=$(date +%s.%N)
.venv/bin/python ../shared/bench/seed_reference.py --data "$OUT/mnist-gz" --weights "$BACKBONE" "${REF_ARGS[@]}" > "$OUT/ref-$RECIPE.log"
t2=$(date +%s.%N)
.venv/bin/python - "$OUT/ours-$RECIPE.json" "$OUT/ref-$RECIPE.log" "$t0" "$t1" "$t2" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))
ref = [json.loads(l) for l in open(sys.argv[2]) if l.startswith("{")][-1]
t0, t1, t2 = map(float, sys.argv[3:6])
print(f"ours: wall {t1 - t0:.1f} s, best val {ours['best_val_acc']:.4f} (epoch {ours['best_epoch']}), test {ours['test']['acc']:.4f}, "
      + ", ".join(f"phase {p['phase']} {p['wall_s']:.1f} s {p['train_images_per_s']:.0f} img/s" for p in ours['phases'])
      + f", {ours['threads']} threads")
print(f"reference: wall {t2 - t1:.1f} s, best val {ref['best_val_acc']:.4f} (epoch {ref['best_epoch']}), test {ref['test_acc']:.4f}")
print(f"speed-up (reference wall / ours): {(t2 - t1) / (t1 - t0):.2f}x")
PY
