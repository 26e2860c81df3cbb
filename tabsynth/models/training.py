"""What the training loops of every model family share: the optimiser, the step count, the
training precision, weight averaging."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim.swa_utils import AveragedModel

# Devices with a fused Adam kernel in torch (one kernel call per step for all tensors).
_FUSED_DEVICES = ("cpu", "cuda", "mps", "xpu")


def adam(parameters: Iterable[torch.nn.Parameter], lr: float, weight_decay: float,
         betas: tuple[float, float] = (0.5, 0.9)) -> torch.optim.Adam:
    """``torch.optim.Adam`` (Kingma & Ba 2015) over ``parameters``, fused where the device has it.

    The fused kernel updates every tensor in one call instead of one call per tensor
    (about 10% of a CTGAN step on CPU). Weight decay is the L2 penalty added to the
    gradient, as in CTGAN's and TVAE's reference code.

    Parameters
    ----------
    parameters : iterable of Parameter
        All on one device.
    lr : float
        Step size.
    weight_decay : float
        L2 coefficient.
    betas : (float, float), default (0.5, 0.9)
        CTGAN's; TVAE and the autoregressive model pass torch's (0.9, 0.999).

    Returns
    -------
    torch.optim.Adam
    """
    parameters = list(parameters)
    device = parameters[0].device.type if parameters else "cpu"
    fused = True if device in _FUSED_DEVICES else None
    return torch.optim.Adam(parameters, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused)


# ``precision`` of CTGAN and TVAE: "auto" trains in bfloat16 where the device multiplies
# bfloat16 matrices natively, else float32.
PRECISIONS = ("auto", "float32", "bfloat16")


def check_precision(precision: str, private: bool) -> None:
    """Validate a model's ``precision`` hyperparameter.

    Raises
    ------
    ValueError
        If it is not one of :data:`PRECISIONS`, or is ``"bfloat16"`` for a DP fit.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}.")
    if private and precision == "bfloat16":
        raise ValueError("precision='bfloat16' is not available with dp: DP-SGD clips every example's "
                         "gradient to its norm bound, which the privacy claim needs in float32; "
                         "use precision='auto' (float32 under dp) or 'float32'.")


def resolve_precision(precision: str, device: torch.device, private: bool) -> str:
    """The precision a fit trains in: ``"float32"`` or ``"bfloat16"``.

    ``"auto"`` is bfloat16 on a CPU that multiplies bfloat16 natively (AVX-512 BF16 or AMX:
    oneDNN's products then run at up to twice the float32 rate; elsewhere bfloat16 is emulated
    and slower), float32 otherwise (CUDA included: its bfloat16 path is not yet measured
    here) and always under DP. Only the training steps change: weights, optimiser state and
    sampling stay float32.
    """
    check_precision(precision, private)
    if private:
        return "float32"
    if precision == "auto":
        return "bfloat16" if native_bfloat16(device) else "float32"
    return precision


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` is a CPU with native bfloat16 matrix products (AVX-512 BF16 or AMX)."""
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(probe is not None and probe() for probe in probes)


def training_autocast(precision: str, device: torch.device) -> torch.autocast:
    """Context for one training step (forward and backward): ``torch.autocast`` to bfloat16
    (mixed precision, Micikevicius et al. 2018: matrix products in bfloat16, float32 weights and
    reductions; no loss scaling, bfloat16 has float32's range), or a no-op for float32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bfloat16")


def steps_per_epoch(n_rows: int, batch_size: int) -> int:
    """Optimiser steps per epoch: one pass over the rows in batches (at least one)."""
    return max(1, math.ceil(n_rows / batch_size))


def exponential_moving_average(module: torch.nn.Module, decay: float) -> AveragedModel:
    """A copy of ``module`` whose weights and buffers track an exponential moving average of its own.

    ``torch.optim.swa_utils.AveragedModel``: call ``update_parameters(module)`` after each
    optimiser step; the copy is then a smoothed version of the trained network, which for a
    GAN's generator samples better than its last, oscillating weights (Yazici et al. 2019,
    "The Unusual Effectiveness of Averaging in GAN Training"). The decay warms up as
    ``min(decay, (1 + t) / (10 + t))`` after ``t`` updates, so a short fit is not dominated by
    the initial weights. Buffers (batch-norm statistics) are averaged alike.

    Parameters
    ----------
    module : nn.Module
    decay : float in (0, 1)
        Weight of the running average per update once warmed up (0.999: a horizon of about
        1,000 steps).

    Returns
    -------
    AveragedModel
        Its ``module`` attribute is the averaged network (``n_averaged`` counts the updates).
    """
    def average_all(averaged: list[torch.Tensor], current: list[torch.Tensor], updates: torch.Tensor) -> None:
        # One fused in-place lerp over every tensor (torch's own foreach kernel, as in
        # torch.optim.swa_utils.get_ema_multi_avg_fn) instead of a Python loop of small ops.
        t = int(updates)
        weight = 1.0 - min(decay, (1 + t) / (10 + t))
        floating = [(a, c) for a, c in zip(averaged, current) if a.is_floating_point()]
        for a, c in zip(averaged, current):
            if not a.is_floating_point():  # an integer buffer (batches seen): the current count
                a.copy_(c)
        if floating:
            torch._foreach_lerp_([a for a, _ in floating], [c for _, c in floating], weight)

    return AveragedModel(module, multi_avg_fn=average_all, use_buffers=True)
