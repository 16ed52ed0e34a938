#!/usr/bin/env python3
"""The most any early stopping that never judges phase 1 could save on a grid, from a plain run's results.

    scripts/bench/asha_bound.py RUN_DIR

RUN_DIR is one of `sharing.sh`'s runs of the plain grid (sharing off): its `results.json` (each trial's result)
and `board.json` (the leaderboard). Every trial must still run its phase 1 and its first phase-2 epoch (the
earliest rung `epochs: phase2` allows); the best trial runs to its end; everything else could be stopped. Counted
in trial seconds (each trial's own wall time, less what it waited for its turns in a lockstep bundle, less the
phase-2 epochs a stop would skip), so the bound is on CPU time; with every worker busy, wall time can shrink by no
more.

Prints one JSON object: total trial seconds, the least that must run, their ratio, and the same with ASHA's own
floor (reduction factor 3, rungs at phase-2 epochs 1 and 3: a third of the trials reach epoch 3, a ninth the end;
the cheapest ones chosen, which favours the bound).
"""

import json
import sys


def main(run_dir: str) -> None:
    results = {t: r for t, r in json.load(open(f"{run_dir}/results.json")).items() if r}
    board = json.load(open(f"{run_dir}/board.json"))
    best = next(e["trial_id"] for e in board if e["rank"] == 1)
    total = must = 0.0
    # Per trial: the seconds that always run, and the seconds of phase-2 epochs 2-3 and 4-end.
    parts = []
    for trial, r in results.items():
        p2 = [e["wall_s"] for e in r["epochs"] if e["phase"] >= 2]
        own = r["wall_s"] - r.get("turn_wait_s", 0.0)
        always = own - sum(p2[1:])
        total += own
        if trial == best:
            must += own
        else:
            must += always
            parts.append((sum(p2[1:3]), sum(p2[3:])))
    n = len(results)
    # ASHA's floor: of the trials besides the best, a third (less the best) reach phase-2 epoch 3, a ninth the end.
    by_cost = sorted(parts, key=lambda p: p[0] + p[1])
    reach3 = max(n // 3 - 1, 0)
    reach_end = max(n // 9 - 1, 0)
    asha = must + sum(a for a, _ in by_cost[:reach3]) + sum(b for _, b in by_cost[:reach_end])
    print(json.dumps({
        "trials": n,
        "trial_seconds": round(total, 1),
        "least_without_judging_phase1": round(must, 1),
        "bound": round(total / must, 2),
        "asha_r3_rungs_1_3_floor": round(asha, 1),
        "asha_bound": round(total / asha, 2),
    }))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: scripts/bench/asha_bound.py RUN_DIR (a plain run of scripts/bench/sharing.sh)")
    main(sys.argv[1])
