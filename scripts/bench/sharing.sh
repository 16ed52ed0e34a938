#!/usr/bin/env bash
# Sweep-aware execution, measured on the real pipeline (real MNIST, real libtorch), side by side on one machine:
# each grid runs with `execution: {sharing: off}`, then with sharing on, back to back, 2 workers of one thread.
#   design: sweeps/grid.yaml (36 trials: 3 backbone LRs x 3 unfreeze depths x smoothing 0/0.1 x scheduler
#           none/cosine; 2 distinct phase-1 configs)
#   frozen: the same grid restricted to the frozen-heavy recipes, [layer4] and [layer3, layer4] (24 trials)
#   design then also runs with sharing on and sweeps/asha.yaml's early stopping (the search issue's
#   combination), compared with the plain grid: wall ratio and whether the best configuration is the same.
#
#   asha:   the search issue's measure on the design grid, side by side: the plain grid (sharing off), the same
#           grid with early stopping alone (sharing off), and with early stopping and sharing; the early stopping
#           is sweeps/asha.yaml's unless EARLY_STOP gives another `early_stop:` line. Not part of `all`.
#           With BASE_BIN (a folder with an older build's `sweep` and `sweep-worker`, e.g. the commit before issue
#           10's first), the plain grid runs first with those binaries too (no `execution:` key, which older builds
#           refuse), and both early-stopped runs are also compared with it: the gain since that build. ALONE=0
#           skips the run with early stopping alone. Last, scripts/bench/asha_bound.py's bound from the plain grid:
#           the most any early stopping that never judges phase 1 could save here. EARLY_STOP2 (another
#           `early_stop:` line, e.g. with `rejudge: true`) adds a run with it and sharing (design-asha2), compared
#           the same way, right after the first.
#
#   frozen also runs with sharing on and bundles off (`SWEEP_BUNDLE=1`: every slot leases one trial at a time),
#   to show what leasing bundles adds.
#
#   big:    a 224 px grid of a few trials (the seed's resolution): [layer4] and [layer3, layer4] x backbone LR
#           1e-4 / 1e-3, 1 + 2 epochs, on BIG_TRAIN/BIG_VAL/BIG_TEST (default 500 / 200 / 200); not part of `all`
#
#   scripts/bench/sharing.sh [design|frozen|all|big|asha]
#
# Prints for each run: wall time, summed CPU time of every process (the workers and their trial processes),
# the peak RSS of the largest single process, the best trial and its val/test; then the wall ratio, whether
# every trial's numbers (epoch metrics, best epoch, val/test metrics, calibration) are identical with and
# without sharing, how many trials resumed a shared phase 1, and the ideal ratios counted from multiply-adds
# (scripts/bench/sharing_ideal.py): for what the worker shares today (phase 1 once per distinct phase-1 config,
# one backbone pass per batch for all phase 1s, phase 2's frozen prefix once per batch per unfreeze depth, for
# training and validation) and as issue 10 counts it (the frozen stages' val features once per phase); both also
# counting only the kernel taps that touch the image (at 32 px most of layer4's meet only zero padding).
#
# Split: TRAIN/VAL/TEST (default 2,000 / 500 / 500); BIN: the folder with `sweep` and `sweep-worker` (default
# target/release, else target/debug). Results land in OUT (default runs/bench-sharing), summary.txt there.
set -euo pipefail
cd "$(dirname "$0")/../.."
WHAT=${1:-all}
case "$WHAT" in design|frozen|all|big|asha) ;; *) echo "usage: $0 [design|frozen|all|big|asha]" >&2; exit 2 ;; esac
EARLY_STOP=${EARLY_STOP:-$(grep '^early_stop:' sweeps/asha.yaml)}
BIN=${BIN:-}
if [ -z "$BIN" ]; then
    if [ -x target/release/sweep ] && [ -x target/release/sweep-worker ]; then BIN=target/release; else BIN=target/debug; fi
fi
for dir in "$BIN" ${BASE_BIN:+"$BASE_BIN"}; do
    for b in sweep sweep-worker; do
        [ -x "$dir/$b" ] || { echo "$dir/$b is missing: build it first (cargo build -p sweep-cli -p sweep-worker)" >&2; exit 1; }
    done
done
TRAIN=${TRAIN:-2000} VAL=${VAL:-500} TEST=${TEST:-500}
OUT=${OUT:-runs/bench-sharing}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
say() { echo "$*" | tee -a "$SUMMARY"; }
: > "$SUMMARY"
say "cpu: $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed "s/^ *//"), $(nproc) cores; binaries: $BIN"
if [ "$WHAT" = big ]; then
    say "split: train ${BIG_TRAIN:-500}, val ${BIG_VAL:-200}, test ${BIG_TEST:-200}, 224 px; 2 workers x 1 thread"
else
    say "split: train $TRAIN, val $VAL, test $TEST; 2 workers x 1 thread"
fi

# `grid_file NAME SHARING [frozen|asha]`: sweeps/grid.yaml reduced, named NAME, with `execution: {sharing: SHARING,
# reuse: off}` (each run computes its own trials; none: no `execution:` key), restricted to the frozen-heavy recipes with `frozen`, with
# sweeps/asha.yaml's `early_stop` (or EARLY_STOP) with `asha`.
grid_file() {
    sed -e "s|^  data: {.*}|  data: {dir: data/mnist, train: $TRAIN, val: $VAL, test: $TEST, split_seed: 0}|" \
        -e "s|^name: .*|name: $1|" \
        -e "s|^  phase2.unfreeze: .*|$( [ "${3:-}" = frozen ] && echo '  phase2.unfreeze: {values: [[layer4], [layer3, layer4]]}' || echo '&' )|" \
        sweeps/grid.yaml
    if [ "$2" != none ]; then echo "execution: {sharing: $2, reuse: off}"; fi
    if [ "${3:-}" = asha ]; then echo "$EARLY_STOP"; fi
    if [ "${3:-}" = asha2 ]; then echo "$EARLY_STOP2"; fi
}

# `run_sweep LABEL FILE`: runs FILE (its workers lease bundles of SWEEP_BUNDLE, default the worker's) in OUT/LABEL (fresh) under a rusage probe: OUT/LABEL/usage.json (wall,
# CPU of all descendants, peak RSS of the largest), board.json (leaderboard) and results.json (each trial's
# result JSON, from the SQLite file).
run_sweep() {
    local label=$1 file=$2 dir="$OUT/$1"
    rm -rf "$dir" && mkdir -p "$dir"
    "$PY" - "$dir/usage.json" "$BIN/sweep" run "$file" --workers 2 --dir "$dir" --fresh --top 0 \
        --worker-bin "$BIN/sweep-worker" > "$dir/run.txt" 2> "$dir/run.err" <<'PY'
import json, resource, subprocess, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
rc = subprocess.call(cmd)
wall = time.monotonic() - t0
u = resource.getrusage(resource.RUSAGE_CHILDREN)
json.dump({"rc": rc, "wall_s": wall, "cpu_s": u.ru_utime + u.ru_stime, "peak_rss_mb": u.ru_maxrss / 1024}, open(out, "w"))
sys.exit(rc)
PY
    local id
    id=$("$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select id from sweeps").fetchone()[0])' "$dir/sweep.db")
    "$BIN/sweep" leaderboard "$id" --db "$dir/sweep.db" --format json --top 0 > "$dir/board.json"
    "$PY" -c '
import json, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("select trial_id, result_json from trials").fetchall()
json.dump({t: json.loads(r) if r else None for t, r in rows}, open(sys.argv[2], "w"))' "$dir/sweep.db" "$dir/results.json"
}

# `big_file NAME SHARING`: the 224 px grid (see the top).
big_file() {
    cat <<YAML
name: $1
metric: {name: val_acc, goal: maximize}
method: grid
base:
  input_size: 224
  data: {dir: data/mnist, train: ${BIG_TRAIN:-500}, val: ${BIG_VAL:-200}, test: ${BIG_TEST:-200}, split_seed: 0}
  backbone: {weights: data/backbone/resnet18-fashion-32.safetensors}
  phase1: {epochs: 1}
  phase2: {epochs: 2}
parameters:
  phase2.lr_backbone: {values: [1.0e-4, 1.0e-3]}
  phase2.unfreeze: {values: [[layer4], [layer3, layer4]]}
execution: {sharing: $2, reuse: off}
YAML
}

# `compare OFF ON KIND [TRAIN VAL TEST SIZE]`: the side-by-side lines for one grid.
compare() {
    "$PY" - "$OUT" "$1" "$2" "$3" "${4:-$TRAIN}" "${5:-$VAL}" "${6:-$TEST}" "${7:-32}" <<'PY' | tee -a "$SUMMARY"
import json, subprocess, sys
out, off, on, kind, train, val, test, size = sys.argv[1:9]
def load(label):
    d = f"{out}/{label}"
    return json.load(open(f"{d}/usage.json")), json.load(open(f"{d}/board.json")), json.load(open(f"{d}/results.json"))
def numbers(r):
    r = dict(r)
    for k in ("wall_s", "turn_wait_s", "phases", "host"):
        r.pop(k, None)
    r["epochs"] = [{k: v for k, v in e.items() if k != "wall_s"} for e in r["epochs"]]
    return r
runs = {label: load(label) for label in (off, on)}
for label, (usage, board, results) in runs.items():
    best = next(e for e in board if e["rank"] == 1)
    shared = sum(1 for r in results.values() if r and r["phases"] and r["phases"][0].get("shared"))
    p1 = sum(r["phases"][0].get("prefix_shared_epochs", 0) for r in results.values() if r and not r["phases"][0].get("shared"))
    p1_run = sum(r["phases"][0]["epochs"] for r in results.values() if r and not r["phases"][0].get("shared"))
    p2 = sum(p.get("prefix_shared_epochs", 0) for r in results.values() if r for p in r["phases"][1:])
    p2_run = sum(p["epochs"] for r in results.values() if r for p in r["phases"][1:])
    print(f"{label:>16}: wall {usage['wall_s']:7.1f} s, cpu {usage['cpu_s']:7.1f} s, peak rss {usage['peak_rss_mb']:6.0f} MB, "
          f"{len(results)} trials ({shared} resumed a shared phase 1), best {best['trial_id']} "
          f"val {best['metric']:.4f} test {best['test_acc']:.4f}")
    print(f"{'':>16}  epochs on another trial's prefix outputs: phase 1 {p1} of {p1_run} run, phase 2 {p2} of {p2_run}")
(uo, _, ro), (un, _, rn) = runs[off], runs[on]
same = set(ro) == set(rn) and all(ro[t] and rn[t] and numbers(ro[t]) == numbers(rn[t]) for t in ro)
differ = [t for t in ro if not (ro[t] and rn.get(t) and numbers(ro[t]) == numbers(rn[t]))]
ideal = json.loads(subprocess.check_output([sys.executable, "scripts/bench/sharing_ideal.py", kind, train, val, test, size]))
measured = uo["wall_s"] / un["wall_s"]
print(f"{'':>16}  measured {measured:.2f}x wall ({uo['cpu_s'] / un['cpu_s']:.2f}x cpu); ideal {ideal['built']:.2f}x for "
      f"what is shared today (measured = {100 * measured / ideal['built']:.0f}% of it), {ideal['issue']:.2f}x for "
      f"everything issue 10 lists ({100 * measured / ideal['issue']:.0f}%)")
print(f"{'':>16}  counting only kernel taps that touch the image: ideal {ideal['image_built']:.2f}x (measured = "
      f"{100 * measured / ideal['image_built']:.0f}% of it), {ideal['image_issue']:.2f}x for issue 10's list")
print(f"{'':>16}  every trial's numbers identical with and without sharing: {'yes' if same else 'NO: ' + ', '.join(differ)}")
PY
}

# `asha_vs_plain LABEL WHAT [PLAIN]`: an early-stopped run of the design grid against the plain grid (PLAIN,
# default design-off): wall
# ratio, epochs run, and whether its best configuration is the plain grid's (a tie at the plain grid's best metric
# counts, saying so: a tie is ranked by index, which the seeded order of a grid with ASHA changes).
asha_vs_plain() {
    "$PY" - "$OUT" "$1" "$2" "${3:-design-off}" <<'PY' | tee -a "$SUMMARY"
import json, sys
out, label, what, plain_label = sys.argv[1:5]
def best(label):
    return next(e for e in json.load(open(f"{out}/{label}/board.json")) if e["rank"] == 1)
def wall(label):
    return json.load(open(f"{out}/{label}/usage.json"))["wall_s"]
board = json.load(open(f"{out}/{label}/board.json"))
run = sum(e["epochs_done"] for e in board)
total = sum(e["total_epochs"] for e in board)
stopped = sum(1 for e in board if e["state"] == "stopped")
b = best(label)
print(f"{label:>16}: wall {wall(label):7.1f} s, epochs {run}/{total} ({stopped} trials stopped), "
      f"best {b['trial_id']} val {b['metric']:.4f} test {b['test_acc']:.4f}")
plain = json.load(open(f"{out}/{plain_label}/board.json"))
top = [e["params"] for e in plain if e["metric"] == best(plain_label)["metric"]]
same = "yes" if b["params"] == best(plain_label)["params"] else (
    f"yes, one of {len(top)} tied at {b['metric']:.4f} in the plain grid" if b["params"] in top else "NO")
print(f"{'':>16}  {what} against the plain grid ({plain_label}): {wall(plain_label) / wall(label):.2f}x wall; "
      f"same best configuration: {same}")
PY
}

if [ "$WHAT" = design ] || [ "$WHAT" = all ]; then
    grid_file bench-design-off off > "$OUT/design-off.yaml"
    grid_file bench-design-on on > "$OUT/design-on.yaml"
    run_sweep design-off "$OUT/design-off.yaml"
    run_sweep design-on "$OUT/design-on.yaml"
    compare design-off design-on design
    grid_file bench-design-asha on asha > "$OUT/design-asha.yaml"
    run_sweep design-asha "$OUT/design-asha.yaml"
    asha_vs_plain design-asha "sharing + early stopping"
fi
if [ "$WHAT" = asha ]; then
    say "early stopping: $EARLY_STOP"
    grid_file bench-design-off off > "$OUT/design-off.yaml"
    grid_file bench-design-asha-alone off asha > "$OUT/design-asha-alone.yaml"
    grid_file bench-design-asha on asha > "$OUT/design-asha.yaml"
    plains=(design-off)
    if [ -n "${BASE_BIN:-}" ]; then
        say "base binaries (the plain grid's second run): $BASE_BIN"
        grid_file bench-design-base none > "$OUT/design-base.yaml"
        BIN=$BASE_BIN run_sweep design-base "$OUT/design-base.yaml"
        plains+=(design-base)
    fi
    run_sweep design-off "$OUT/design-off.yaml"
    if [ "${ALONE:-1}" != 0 ]; then run_sweep design-asha-alone "$OUT/design-asha-alone.yaml"; fi
    run_sweep design-asha "$OUT/design-asha.yaml"
    if [ -n "${EARLY_STOP2:-}" ]; then
        say "second early stopping: $EARLY_STOP2"
        grid_file bench-design-asha2 on asha2 > "$OUT/design-asha2.yaml"
        run_sweep design-asha2 "$OUT/design-asha2.yaml"
    fi
    for plain in "${plains[@]}"; do
        "$PY" - "$OUT/$plain" "$plain" <<'PY' | tee -a "$SUMMARY"
import json, sys
usage, board = (json.load(open(f"{sys.argv[1]}/{f}.json")) for f in ("usage", "board"))
b = next(e for e in board if e["rank"] == 1)
print(f"{sys.argv[2]:>16}: wall {usage['wall_s']:7.1f} s, epochs {sum(e['epochs_done'] for e in board)}, "
      f"best {b['trial_id']} val {b['metric']:.4f} test {b['test_acc']:.4f}")
PY
    done
    for plain in "${plains[@]}"; do
        if [ "${ALONE:-1}" != 0 ]; then asha_vs_plain design-asha-alone "early stopping alone" "$plain"; fi
        asha_vs_plain design-asha "sharing + early stopping" "$plain"
        if [ -n "${EARLY_STOP2:-}" ]; then asha_vs_plain design-asha2 "sharing + second early stopping" "$plain"; fi
    done
    say "the most early stopping alone could save on this grid, judging no phase-1 epoch (scripts/bench/asha_bound.py):"
    "$PY" scripts/bench/asha_bound.py "$OUT/design-off" | tee -a "$SUMMARY"
fi
if [ "$WHAT" = frozen ] || [ "$WHAT" = all ]; then
    grid_file bench-frozen-off off frozen > "$OUT/frozen-off.yaml"
    grid_file bench-frozen-on on frozen > "$OUT/frozen-on.yaml"
    run_sweep frozen-off "$OUT/frozen-off.yaml"
    run_sweep frozen-on "$OUT/frozen-on.yaml"
    compare frozen-off frozen-on frozen
    grid_file bench-frozen-on-single on frozen > "$OUT/frozen-on-single.yaml"
    SWEEP_BUNDLE=1 run_sweep frozen-on-single "$OUT/frozen-on-single.yaml"
    say "the same with sharing on, each slot leasing one trial at a time (no bundles):"
    compare frozen-off frozen-on-single frozen
fi
if [ "$WHAT" = big ]; then
    big_file bench-big-off off > "$OUT/big-off.yaml"
    big_file bench-big-on on > "$OUT/big-on.yaml"
    run_sweep big-off "$OUT/big-off.yaml"
    run_sweep big-on "$OUT/big-on.yaml"
    compare big-off big-on big "${BIG_TRAIN:-500}" "${BIG_VAL:-200}" "${BIG_TEST:-200}" 224
fi
