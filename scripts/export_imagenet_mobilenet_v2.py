#!/usr/bin/env python3
"""Exports torchvision's ImageNet MobileNetV2 (IMAGENET1K_V1) as the .safetensors
state dict the worker loads (`backbone.weights` with `model: mobilenet_v2`).

The pipeline reads any torchvision-format MobileNetV2 state dict: names such as
`features.0.0.weight`, `features.3.conv.1.1.running_var`, `classifier.1.weight`.
Its 1000-class `classifier.1` is dropped by the pipeline, which makes a fresh
10-class head.

Needs a machine that can download torchvision's weights (the project's CI
machines cannot; there `sweep-worker pretrain --model mobilenet_v2` makes a
stand-in backbone).

    python scripts/export_imagenet_mobilenet_v2.py data/backbone/mobilenet_v2-imagenet-224.safetensors

then, in the trial config:

    model: mobilenet_v2
    backbone:
      weights: data/backbone/mobilenet_v2-imagenet-224.safetensors
    input_size: 224
    phase2: {unfreeze: [features.17, features.18]}
"""
import argparse
from pathlib import Path

import torchvision

from imagenet_export import export


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="where to write the .safetensors file")
    a = ap.parse_args()
    # 158 parameters + 156 BatchNorm buffers (running mean/var, num_batches_tracked)
    export("mobilenet_v2", torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1, 314, a.out)


if __name__ == "__main__":
    main()
