"""DP-SGD for the image models: the ledger and the Opacus engine, as for the tables.

The privacy unit is one training image with its label (add or remove one image). The image
shape and the number of classes are the public schema (MNIST: 28 x 28 grey, digits 0-9), as
is the number of training images (it sets the Poisson sampling rate, as in DP-SGD practice).
Nothing else is read from the images outside DP-SGD: no statistics, no validation, a fixed
schedule. So the whole budget goes to DP-SGD, whose noise multiplier is calibrated so the
PLD accountant's total lands on the target epsilon.
"""

from __future__ import annotations

import torch
from torch import nn

from tabsynth.privacy.accounting import PrivacyLedger
from tabsynth.privacy.dpsgd import DPSGD, calibrated_dp_sgd


def private_trainer(model, module: nn.Module, optimizer: torch.optim.Optimizer, n_images: int,
                    physical_batch_size: int = 64) -> DPSGD:
    """The tables' :func:`~tabsynth.privacy.dpsgd.calibrated_dp_sgd` on a ledger of DP-SGD alone:
    ``model.epochs`` expected passes of Poisson batches, the noise calibrated to the target. Sets
    ``model.noise_multiplier_`` and ``model.privacy_`` (the ``privacy.json`` document).

    Raises
    ------
    ValueError
        If ``dp.delta`` is not below 1 / n_images, or ``module`` holds a BatchNorm layer.
    """
    model.dp.check_rows(n_images)
    ledger = PrivacyLedger(model.dp)
    engine = calibrated_dp_sgd(ledger, module, optimizer, n_rows=n_images, batch_size=model.batch_size,
                               epochs=model.epochs, columns=["pixels", "label"], device=model.device_,
                               physical_batch_size=physical_batch_size, mode="per_example")
    model.noise_multiplier_ = engine.noise_multiplier
    model.privacy_ = {**ledger.to_dict(), "neighbouring": "add or remove one image"}
    model._say(f"DP: {n_images:,} images and the image shape and class count taken as public; privacy ledger\n"
               + ledger.summary())
    return engine
