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
image_built, image_issue: the same two, counting only the kernel taps that touch the image (image_stage_macs).
A ResNet18's stages at SIZE px (default 32): forward multiply-adds per image (every tap, as issue 10 counts them); backward of a trained stage counted as
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


def conv_macs(cin, cout, k, stride, pad, side):
    """Multiply-adds per image of a k x k conv on a side x side map that touch the image (taps that meet only the
    zero padding left out); the map side it outputs."""
    out = (side + 2 * pad - k) // stride + 1
    taps = sum(1 for o in range(out) for t in range(k) if 0 <= o * stride - pad + t < side)
    return cin * cout * taps * taps, out


def image_stage_macs(size):
    """Like stage_macs, but counting only the taps that touch the image: at 32 px layer4 runs on 2 x 2 and 1 x 1 maps,
    where 8 of a 3 x 3 kernel's 9 taps meet only padding (the worker computes such convs as matrix products of the
    taps that touch the image, net/layers.rs)."""
    stem, side = conv_macs(3, 64, 7, 2, 3, size)
    side = (side + 2 - 3) // 2 + 1  # the 3 x 3 max pool, stride 2, padding 1
    stages = [stem, sum(conv_macs(64, 64, 3, 1, 1, side)[0] for _ in range(4))]
    cin = 64
    for cout in (128, 256, 512):
        first, out = conv_macs(cin, cout, 3, 2, 1, side)
        down, _ = conv_macs(cin, cout, 1, 2, 0, side)
        stages.append(first + down + sum(conv_macs(cout, cout, 3, 1, 1, out)[0] for _ in range(3)))
        cin, side = cout, out
    return stages


def main():
    kind, train, val, test = sys.argv[1], *map(int, sys.argv[2:5])
    size = int(sys.argv[5]) if len(sys.argv) > 5 else 32
    every = ratios(kind, train, val, test, stage_macs(size))
    touching = ratios(kind, train, val, test, image_stage_macs(size))
    print(json.dumps({
        "kind": kind, "trials": every["trials"], "size": size,
        "stage_mmacs": [round(x / 1e6, 2) for x in stage_macs(size)],
        "phase1": every["phase1"], "built": every["built"], "issue": every["issue"],
        "image_stage_mmacs": [round(x / 1e6, 2) for x in image_stage_macs(size)],
        "image_built": touching["built"], "image_issue": touching["issue"],
    }))


def ratios(kind, train, val, test, f):
    """The ideal ratios of grid `kind` for stage multiply-adds `f`."""
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
    return {"trials": len(trials), "phase1": isolated / only_phase1, "built": isolated / built, "issue": isolated / issue}


if __name__ == "__main__":
    main()
