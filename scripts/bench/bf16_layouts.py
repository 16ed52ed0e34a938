#!/usr/bin/env python3
"""bf16 and channels-last on this CPU, before building them into the worker: torchvision's ResNet18 in eval mode
(the frozen stages' and evaluation's work), batch 128 at 32 px and 32 at 224 px, one thread, the variants
interleaved: f32 NCHW (the worker's default), f32 channels-last, bf16 NCHW, bf16 channels-last (weights and input
cast; libtorch runs bf16 convolutions through oneDNN, natively where the CPU has avx512_bf16 or AMX). Prints each
variant's time, its speed against f32 NCHW and the largest logit difference from f32 NCHW.

    .venv/bin/python scripts/bench/bf16_layouts.py
"""
import torch, torchvision, time, sys
torch.set_num_threads(1)
for S, B, reps in ((32, 128, 5), (224, 32, 2)):
    m = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.randn(B, 3, S, S)
    variants = {}
    for name, dt, mf in (('f32 NCHW', torch.float32, torch.contiguous_format), ('f32 CL', torch.float32, torch.channels_last), ('bf16 NCHW', torch.bfloat16, torch.contiguous_format), ('bf16 CL', torch.bfloat16, torch.channels_last)):
        mm = torchvision.models.resnet18(num_classes=10).eval(); mm.load_state_dict(m.state_dict()); mm = mm.to(dtype=dt, memory_format=mf)
        variants[name] = (mm, x.to(dt).contiguous(memory_format=mf))
    tot = {k: 0.0 for k in variants}
    with torch.no_grad():
        for k, (mm, xx) in variants.items(): mm(xx)
        for r in range(reps):
            for k, (mm, xx) in variants.items():
                t = time.perf_counter(); mm(xx); tot[k] += time.perf_counter() - t
        ref = variants['f32 NCHW'][0](x)
        for k, (mm, xx) in variants.items():
            d = (mm(xx).float() - ref).abs().max().item()
            print(S, k, f'{tot[k]:.3f}s', f"{tot['f32 NCHW']/tot[k]:.2f}x", f'maxdiff {d:.2e}')
