"""Adam for the training loops: torch's Adam kernels without ``torch.optim.Adam``'s wrapper.

Adam is Kingma & Ba (2015), "Adam: A Method for Stochastic Optimization", with L2 weight
decay added to the gradient (``torch.optim.Adam``'s ``weight_decay``, not AdamW). The
update itself is torch's: :func:`torch.optim.adam.adam`, the functional API that
``torch.optim.Adam`` calls, with ``fused=True`` (one kernel for all tensors) on the
devices torch has a fused Adam kernel for, and torch's single-tensor loop elsewhere.

Why not ``torch.optim.Adam`` itself: on CPU its wrapper is a fixed cost that the models
here pay thousands of times. Its constructor imports ``torch._dynamo`` (1.0 s in every
fresh process, 1.5% of a 300-epoch TVAE fit on Adult), and each ``step()`` spends about
40 µs in hooks and parameter-group bookkeeping around a 55 µs kernel (19,800 steps in
that fit: 0.8 s). The tests check that this class gives the same parameters, bit for bit,
as ``torch.optim.Adam(fused=True)``.

This class is not a ``torch.optim.Optimizer``: code that needs one (Opacus's DP-SGD
wraps an optimizer to clip and noise per-sample gradients) should use ``torch.optim.Adam``.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch.optim.adam import adam as _functional_adam

# Device types with a fused Adam kernel in torch 2.x.
_FUSED_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


class Adam:
    """Adam over a fixed list of tensors on one device: torch's fused kernel where the device
    has one (CPU, CUDA, MPS, XPU), its single-tensor loop elsewhere.

    Parameters
    ----------
    parameters : iterable of Tensor
        Leaf tensors to update in place, float32 or float64, all on one device. Each step
        updates those whose ``.grad`` is not None (as ``torch.optim.Adam`` does).
    lr : float
        Learning rate; the ``lr`` attribute may be changed between steps (a schedule).
    betas : (float, float)
        Decay rates of the first and second moment estimates.
    weight_decay : float
        L2 penalty added to the gradient (coupled, as in ``torch.optim.Adam``).
    eps : float, default 1e-8
        Added to the denominator's square root.

    Raises
    ------
    ValueError
        If ``parameters`` is empty or spans several devices.
    """

    def __init__(self, parameters: Iterable[torch.Tensor], lr: float, betas: tuple[float, float],
                 weight_decay: float, eps: float = 1e-8):
        self.parameters = list(parameters)
        if not self.parameters:
            raise ValueError("Adam needs at least one parameter.")
        devices = {p.device for p in self.parameters}
        if len(devices) > 1:
            raise ValueError(f"Adam's parameters must share one device, got {sorted(map(str, devices))}.")
        self.lr, self.betas, self.weight_decay, self.eps = float(lr), tuple(betas), float(weight_decay), float(eps)
        self.exp_avgs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.parameters]
        self.exp_avg_sqs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.parameters]
        # float32 step counters on the parameters' device: what the fused kernel reads.
        self.steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.parameters]
        self.fused = self.parameters[0].device.type in _FUSED_DEVICE_TYPES

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter that has a gradient."""
        active = [i for i, p in enumerate(self.parameters) if p.grad is not None]
        if not active:
            return
        _functional_adam(
            [self.parameters[i] for i in active], [self.parameters[i].grad for i in active],
            [self.exp_avgs[i] for i in active], [self.exp_avg_sqs[i] for i in active], [],
            [self.steps[i] for i in active],
            foreach=False, fused=self.fused, amsgrad=False, maximize=False, capturable=False, differentiable=False,
            has_complex=False, beta1=self.betas[0], beta2=self.betas[1], lr=self.lr,
            weight_decay=self.weight_decay, eps=self.eps,
        )

    def zero_grad(self) -> None:
        """Set every parameter's gradient to None (the next backward pass allocates it afresh)."""
        for p in self.parameters:
            p.grad = None
