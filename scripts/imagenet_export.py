"""The shared part of scripts/export_imagenet_*.py: build a torchvision model
with its ImageNet weights (downloaded into torch's cache), check the state
dict's size, write it as the .safetensors file the worker loads."""
from pathlib import Path

import torchvision
from safetensors.torch import save_file


def export(model_name: str, weights, expected: int, out: Path) -> None:
    model = getattr(torchvision.models, model_name)(weights=weights)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if len(state) != expected:
        raise SystemExit(f"unexpected state dict: {len(state)} tensors, expected {expected}")
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out), metadata={"source": f"torchvision {torchvision.__version__} {weights}"})
    print(f"wrote {out}: {len(state)} tensors from {weights}")
