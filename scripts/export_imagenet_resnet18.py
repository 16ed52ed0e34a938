#!/usr/bin/env python3
"""Exports torchvision's ImageNet ResNet18 (IMAGENET1K_V1) as the .safetensors
state dict the worker loads (`backbone.weights` in a trial config).

The pipeline reads any torchvision-format ResNet18 state dict: names such as
`conv1.weight`, `bn1.running_mean`, `layer2.0.downsample.0.weight`, `fc.weight`.
Its 1000-class `fc` is dropped by the pipeline, which makes a fresh 10-class head.

Needs a machine that can download torchvision's weights (the project's CI
machines cannot; there `sweep-worker pretrain` makes a stand-in backbone).

    python scripts/export_imagenet_resnet18.py data/backbone/resnet18-imagenet-224.safetensors

then, in the trial config:

    backbone:
      weights: data/backbone/resnet18-imagenet-224.safetensors
    input_size: 224
"""
import argparse
from pathlib import Path

import torch
import torchvision
from safetensors.torch import save_file


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="where to write the .safetensors file")
    a = ap.parse_args()

    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    model = torchvision.models.resnet18(weights=weights)  # downloads into torch's cache
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    expected = 122  # 62 parameters + 60 BatchNorm buffers (running mean/var, num_batches_tracked)
    if len(state) != expected:
        raise SystemExit(f"unexpected state dict: {len(state)} tensors, expected {expected}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(a.out), metadata={"source": f"torchvision {torchvision.__version__} {weights}"})
    print(f"wrote {a.out}: {len(state)} tensors from {weights}")


if __name__ == "__main__":
    main()
