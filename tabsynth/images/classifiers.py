"""The classifiers of the image evaluation: the reference CNN (features for the Frechet
distance, precision / recall / density / coverage and memorisation; label accuracy) and
LeNet-5 (the fixed TSTR and augmentation-gain classifier), with one training routine.

Inception weights cannot be downloaded here, so the reference features come from a CNN of
the project's own, trained on real MNIST train by ``python -m tabsynth.images.train_reference``
(its weights ship as ``tabsynth/images/weights/mnist_reference.pt``, a ``state_dict`` read
with ``weights_only=True``).
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tabsynth.images.augment import Augmenter

REFERENCE_WEIGHTS = "mnist_reference.pt"
FEATURE_DIM = 128


class ReferenceCNN(nn.Module):
    """VGG-style MNIST classifier whose 128-d penultimate layer is the feature space of the evaluation.

    ``(B, 1, 28, 28)`` in [-1, 1] -> [conv 3x3 32, ReLU] x2 -> max-pool -> [conv 3x3 64, ReLU]
    x2 -> max-pool -> linear 3136 -> 128, ReLU (:meth:`features`) -> dropout 0.3 -> linear 10
    (logits). 467,818 parameters.
    """

    def __init__(self, n_classes: int = 10, channels: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(64 * 7 * 7, FEATURE_DIM), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_DIM, n_classes))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)  # (B, 128)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(images))  # (B, K) logits


class LeNet5(nn.Module):
    """LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998) with ReLU and max-pooling: the fixed
    classifier of TSTR and of the augmentation gain.

    ``(B, 1, 28, 28)`` -> conv 5x5 6 (padding 2), ReLU, max-pool -> conv 5x5 16, ReLU, max-pool ->
    linear 400 -> 120 -> 84 -> 10. 61,706 parameters.
    """

    def __init__(self, n_classes: int = 10, channels: int = 1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, n_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)  # (B, K) logits


ARCHITECTURES = {"lenet5": LeNet5, "reference": ReferenceCNN}


def train_classifier(x: torch.Tensor, y: torch.Tensor, *, architecture: str = "lenet5", epochs: int = 5,
                     batch_size: int = 128, lr: float = 1e-3, seed: int = 0, augmenter: Augmenter | None = None,
                     n_classes: int = 10, steps: int | None = None) -> nn.Module:
    """Train a classifier with Adam and cross-entropy (cosine learning-rate decay to 0).

    Parameters
    ----------
    x : Tensor float (N, C, H, W) in [-1, 1]
    y : Tensor int64 (N,)
    architecture : {"lenet5", "reference"}
    epochs : int
        Passes over ``x`` (ignored when ``steps`` is given).
    steps : int or None
        Optimiser steps in total instead of epochs (small training sets: the same
        amount of training whatever N).
    augmenter : Augmenter or None
        Applied to every batch when given.
    seed : int
        Weights, batch order and dropout.

    Returns
    -------
    nn.Module in eval mode, on ``x``'s device.
    """
    device = x.device
    generator = torch.Generator(device).manual_seed(seed)
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = ARCHITECTURES[architecture](n_classes=n_classes, channels=x.shape[1]).to(device)
        per_epoch = max(1, -(-len(x) // batch_size))
        total = steps if steps is not None else epochs * per_epoch
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total)
        model.train()
        done = 0
        while done < total:
            for index in torch.randperm(len(x), generator=generator, device=device).split(batch_size):
                batch = x[index] if augmenter is None else augmenter(x[index])
                loss = F.cross_entropy(model(batch), y[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                done += 1
                if done == total:
                    break
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 2000) -> np.ndarray:
    """Predicted labels, int64 (N,)."""
    was = model.training
    model.eval()
    out = np.concatenate([model(x[i:i + batch_size]).argmax(1).cpu().numpy() for i in range(0, len(x), batch_size)])
    model.train(was)
    return out


@torch.no_grad()
def features(model: ReferenceCNN, x: torch.Tensor, batch_size: int = 2000) -> np.ndarray:
    """The reference CNN's 128-d features, float64 (N, 128)."""
    model.eval()
    return np.concatenate([model.features(x[i:i + batch_size]).double().cpu().numpy()
                           for i in range(0, len(x), batch_size)])


def load_reference(device: torch.device | str = "cpu") -> ReferenceCNN:
    """The shipped reference CNN (trained on real MNIST train), in eval mode.

    Raises
    ------
    FileNotFoundError
        If the weight file is missing from the installed package (re-install tabsynth, or
        re-create it with ``python -m tabsynth.images.train_reference``).
    """
    source = resources.files("tabsynth.images") / "weights" / REFERENCE_WEIGHTS
    if not source.is_file():
        raise FileNotFoundError(f"The reference CNN's weights '{source}' are missing; re-install tabsynth or run "
                                "`python -m tabsynth.images.train_reference`.")
    with resources.as_file(source) as path:
        state = torch.load(path, map_location="cpu", weights_only=True)
    model = ReferenceCNN()
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.to(device).eval()
