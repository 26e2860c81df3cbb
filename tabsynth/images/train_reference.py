"""Train the reference CNN of the image evaluation on real MNIST train and write its weights.

Usage (about 10 minutes on 2 CPU cores; 6 epochs)::

    python -m tabsynth.images.train_reference [--data sample_data/mnist.npz] [--epochs 6] [--out PATH]

Writes ``tabsynth/images/weights/mnist_reference.pt`` (a float16 ``state_dict``, loaded as
float32) unless ``--out`` says otherwise, and prints the accuracy on the 10,000 real test
images (the evaluation asks for >= 99.3%). Training: Adam (lr 1e-3, cosine decay), batches
of 128, light augmentation (rotation 10 degrees, scale 0.9-1.1, shift 10%, no elastic
deformation, no noise), seed 0.
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import torch

from tabsynth.images.augment import Augmenter
from tabsynth.images.classifiers import REFERENCE_WEIGHTS, predict, train_classifier
from tabsynth.images.data import load_images
from tabsynth.io import atomic_output

DEFAULT_OUT = Path(__file__).resolve().parent / "weights" / REFERENCE_WEIGHTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "sample_data" / "mnist.npz"))
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args()
    train, test = load_images(args.data, "train"), load_images(args.data, "test")
    x, y = train.to_tensors()
    augmenter = Augmenter(rotation=10, scale=(0.9, 1.1), translate=0.1, elastic_alpha=0, noise_std=0, random_state=0)
    start = time.perf_counter()
    model = train_classifier(x, y, architecture="reference", epochs=args.epochs, seed=0, augmenter=augmenter)
    accuracy = float((predict(model, test.to_tensors()[0]) == test.y).mean())
    print(f"reference CNN: {args.epochs} epochs in {time.perf_counter() - start:.0f} s, "
          f"test accuracy {accuracy:.4f} on {len(test):,} real test images")
    buffer = io.BytesIO()
    torch.save({k: v.half() for k, v in model.state_dict().items()}, buffer)
    with atomic_output(args.out) as tmp_name:
        Path(tmp_name).write_bytes(buffer.getvalue())
    print(f"wrote {args.out} ({len(buffer.getvalue()):,} bytes)")


if __name__ == "__main__":
    main()
