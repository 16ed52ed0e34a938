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

import torchvision

from imagenet_export import export


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="where to write the .safetensors file")
    a = ap.parse_args()
    # 62 parameters + 60 BatchNorm buffers (running mean/var, num_batches_tracked)
    export("resnet18", torchvision.models.ResNet18_Weights.IMAGENET1K_V1, 122, a.out)


if __name__ == "__main__":
    main()
