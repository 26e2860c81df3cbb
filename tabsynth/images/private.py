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

from tabsynth.privacy.accounting import Mechanism, PrivacyLedger, calibrate_noise_multiplier
from tabsynth.privacy.dpsgd import DPSGD
from tabsynth.privacy.mechanisms import secret_seed


def private_trainer(model, module: nn.Module, optimizer: torch.optim.Optimizer, n_images: int,
                    physical_batch_size: int = 64) -> DPSGD:
    """Fix the steps, calibrate the noise, record the ledger on ``model`` and return the DP-SGD engine.

    ``model.epochs`` expected passes of Poisson batches of ``dp.expected_batch_size`` (else
    ``model.batch_size``) images: ``epochs * int(n / batch)`` steps, never more. Sets
    ``model.noise_multiplier_`` and ``model.privacy_`` (the ``privacy.json`` document).

    Raises
    ------
    ValueError
        If ``dp.delta`` is not below 1 / n_images, or ``module`` holds a BatchNorm layer.
    """
    dp = model.dp
    dp.check_rows(n_images)
    ledger = PrivacyLedger(dp)
    expected = min(dp.expected_batch_size or model.batch_size, n_images)
    sample_rate = expected / n_images
    steps = model.epochs * int(1 / sample_rate)
    model.noise_multiplier_ = calibrate_noise_multiplier(ledger, sample_rate=sample_rate, steps=steps)
    ledger.add(Mechanism("DP-SGD", ["pixels", "label"], noise_std=model.noise_multiplier_ * dp.max_grad_norm,
                         sensitivity=dp.max_grad_norm, steps=steps, sample_rate=sample_rate))
    model.privacy_ = {**ledger.to_dict(), "neighbouring": "add or remove one image"}
    model._say(f"DP: {n_images:,} images and the image shape and class count taken as public; privacy ledger\n"
               + ledger.summary())
    return DPSGD(module, optimizer, n_rows=n_images, expected_batch_size=expected,
                 noise_multiplier=model.noise_multiplier_, max_grad_norm=dp.max_grad_norm,
                 sampling_generator=torch.Generator().manual_seed(secret_seed()),
                 noise_generator=torch.Generator(model.device_).manual_seed(secret_seed()),
                 physical_batch_size=physical_batch_size, mode="per_example")
