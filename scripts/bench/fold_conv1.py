#!/usr/bin/env python3
"""ResNet18's first conv alone, the seed's 3-channel normalised input against the fold the worker uses for a frozen
first conv (net/layers.rs, Conv2d::forward_gray): frozen (no_grad) and trained (with its weight gradient), batch 128
at 32 px and 32 at 224 px, 2 threads, interleaved. Prints ms per call and the fold's speed against the 3-channel path.

    .venv/bin/python scripts/bench/fold_conv1.py
"""
import torch, time
torch.set_num_threads(2)
F = torch.nn.functional
for S, B, reps in ((32, 128, 30), (224, 32, 4)):
    w = torch.randn(64, 3, 7, 7, requires_grad=True)
    x = torch.rand(B, 1, S, S)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1); std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    def three(train):
        x3 = (x.repeat(1, 3, 1, 1) - mean) / std
        y = F.conv2d(x3, w, stride=2, padding=3)
        if train: y.sum().backward()
    def fold(train):
        ws = (w / std).sum(1, keepdim=True); wm = (w * (mean / std)).sum(1, keepdim=True)
        y = F.conv2d(x, ws, stride=2, padding=3) - F.conv2d(torch.ones(1, 1, S, S), wm, stride=2, padding=3)
        if train: y.sum().backward()
    for train in (False, True):
        ctx = torch.enable_grad() if train else torch.no_grad()
        with ctx:
            t = {'3ch': 0, 'fold': 0}
            for f in (three, fold): f(train)
            for _ in range(reps):
                for k, f in (('3ch', three), ('fold', fold)):
                    t0 = time.perf_counter(); f(train); t[k] += time.perf_counter() - t0
        print(S, 'train' if train else 'frozen', {k: round(v / reps * 1000, 2) for k, v in t.items()}, 'ms', f"{t['3ch'] / t['fold']:.2f}x")
