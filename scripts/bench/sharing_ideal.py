#!/usr/bin/env python3
"""The ideal speed-up of shared execution for the grids of scripts/bench/sharing.sh, counted in multiply-adds.

    sharing_ideal.py design|frozen|big TRAIN VAL TEST [SIZE]

Prints JSON: {"phase1": x, "built": y, "issue": z, ...}: isolated work over unique work, where
  phase1: phase 1 runs once per distinct phase-1 config (snapshots alone);
  built:  what the worker shares today: also one backbone pass per batch for all phase 1s (they differ only in head
          settings) and the frozen prefix of phase 2 once per batch per unfreeze depth, training and validation
          (the prefix's validation outputs once per epoch: its BatchNorm statistics move every epoch);
  issue:  as issue 10 counts it: the frozen stages' validation features once for the whole phase (what held
          BatchNorm statistics, `hold_frozen_bn`, would allow).
A ResNet18's stages at SIZE px (default 32): forward multiply-adds per image; backward of a trained stage counted as
twice its forward (input and weight gradients), frozen stages before the first trained one have none; the head is
negligible. The grid is sweeps/grid.yaml's: phase 1 3 epochs (head only), phase 2 7 epochs, 3 backbone LRs x
unfreeze depths x smoothing 0/0.1 x scheduler none/cosine; the test pass once per trial. `big` is sharing.sh's
224 px grid: phase 1 1 epoch, phase 2 2 epochs, 2 backbone LRs x [layer4], [layer3, layer4] (4 trials).
"""
import json
import sys


def stage_macs(size):
    """Forward multiply-adds per image of stem, layer1..layer4."""
    s2, s4, s8, s16, s32 = (max(1, -(-size // d)) for d in (2, 4, 8, 16, 32))
    stem = 64 * 3 * 49 * s2 * s2
    layer1 = 4 * 64 * 64 * 9 * s4 * s4

    def layer(cin, cout, side):
        return (cout * cin * 9 + 3 * cout * cout * 9 + cout * cin) * side * side

    return [stem, layer1, layer(64, 128, s8), layer(128, 256, s16), layer(256, 512, s32)]


def main():
    kind, train, val, test = sys.argv[1], *map(int, sys.argv[2:5])
    size = int(sys.argv[5]) if len(sys.argv) > 5 else 32
    f = stage_macs(size)
    total = sum(f)
    # First trained stage of each unfreeze recipe (index into f).
    depths = {"[layer4]": 4, "[layer3, layer4]": 3, "[all]": 0}
    lrs, smoothings, schedulers = 3, 2, 2
    p1_epochs, p2_epochs = 3, 7
    if kind in ("frozen", "big"):
        depths.pop("[all]")
    if kind == "big":
        lrs, smoothings, schedulers = 2, 1, 1
        p1_epochs, p2_epochs = 1, 2
    trials = [(d, s) for d in depths.values() for s in range(smoothings) for _ in range(lrs * schedulers)]

    phase1 = p1_epochs * (train + val) * total
    def phase2(k):
        return p2_epochs * (train * (total + 2 * sum(f[k:])) + val * total)
    test_pass = test * total

    isolated = sum(phase1 + phase2(k) + test_pass for k, _ in trials)
    only_phase1 = smoothings * phase1 + sum(phase2(k) + test_pass for k, _ in trials)
    built = p1_epochs * (train + val) * total
    for k in depths.values():
        built += p2_epochs * (train + val) * sum(f[:k])
    for k, _ in trials:
        built += p2_epochs * (train * 3 * sum(f[k:]) + val * sum(f[k:])) + test_pass
    issue = p1_epochs * train * total + val * total  # one backbone pass for every phase 1, val features once
    for k in depths.values():
        issue += p2_epochs * train * sum(f[:k]) + val * sum(f[:k])  # frozen prefix once per depth
    for k, _ in trials:
        issue += p2_epochs * (train * 3 * sum(f[k:]) + val * sum(f[k:])) + test_pass
    print(json.dumps({
        "kind": kind, "trials": len(trials), "size": size,
        "stage_mmacs": [round(x / 1e6, 2) for x in f],
        "phase1": isolated / only_phase1, "built": isolated / built, "issue": isolated / issue,
    }))


if __name__ == "__main__":
    main()
