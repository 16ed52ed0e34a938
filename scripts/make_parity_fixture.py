#!/usr/bin/env python3
"""Writes the parity fixture for the worker's hand-written networks.

Builds torchvision.models.resnet18() (or mobilenet_v2() with --model) with
seeded random weights, randomises every
BatchNorm's weight, bias, running_mean and running_var (so that eval-mode
BatchNorm is far from the identity and a mix-up of buffers shows), and writes:

  OUT_DIR/weights.safetensors   the state dict in torchvision's names (incl.
                                num_batches_tracked, int64)
  OUT_DIR/io.safetensors        `input` (2x3x64x64, seeded) and `logits`
                                (torchvision's eval-mode output, 2x1000); `gray`
                                (2x1x64x64 in [0, 1]) and `gray_logits` (torchvision's
                                output for it replicated to 3 channels and normalised)

    python scripts/make_parity_fixture.py OUT_DIR [--seed 0] [--size 64] [--model resnet18|mobilenet_v2]

Needs the project venv's torch + torchvision + safetensors.
"""
import argparse
from pathlib import Path

import torch
import torchvision
from safetensors.torch import save_file


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=64, help="input side in pixels")
    ap.add_argument("--model", choices=["resnet18", "mobilenet_v2"], default="resnet18")
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    model = getattr(torchvision.models, a.model)()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(int(torch.randint(0, 1000, ()).item()))
    model.eval()
    x = torch.randn(2, 3, a.size, a.size)
    # A gray image in [0, 1] through the seed's transform (3 channels, ImageNet mean/std): the worker
    # feeds the gray image itself and folds the rest into the first conv.
    gray = torch.rand(2, 1, a.size, a.size)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        logits = model(x)
        gray_logits = model((gray.repeat(1, 3, 1, 1) - mean) / std)

    a.out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(a.out_dir / "weights.safetensors"))
    save_file({"input": x.contiguous(), "logits": logits.contiguous(), "gray": gray.contiguous(),
               "gray_logits": gray_logits.contiguous()}, str(a.out_dir / "io.safetensors"))
    print(f"wrote {a.out_dir}/weights.safetensors ({len(state)} tensors) and io.safetensors "
          f"(input {tuple(x.shape)}, logits {tuple(logits.shape)})")


if __name__ == "__main__":
    main()
