"""Per-example gradient norms of tabsynth's own layers, registered with Opacus' ghost clipping.

Opacus' fast gradient clipping (Li, Tramer, Liang & Hashimoto 2022, "Large Language
Models Can Be Strong Differentially Private Learners"; Bu et al. 2023) needs, for each
layer type, the norm of each example's weight gradient from the activations and output
gradients that its autograd hooks capture; it then clips with a second autograd backward
of the loss re-weighted by the clipping factors. Opacus ships these for ``nn.Linear`` and
``nn.Embedding``; this module adds :class:`~tabsynth.models.autoregressive.network.GroupedLinear`.

A grouped linear map ``y[g, b] = x[g, b] @ W[g] + c[g]`` uses group ``g``'s weight once per
row ``b``, so row ``b``'s gradient of ``W[g]`` is the outer product
``x[g, b]^T dy[g, b]`` and its squared Frobenius norm ``|x[g, b]|^2 |dy[g, b]|^2``; the groups'
weights are disjoint blocks, so the squares add over ``g``. The bias gradient is
``dy[g, b]``. ``tests/unit/test_privacy.py`` checks these norms against per-example
gradients computed by ``torch.func``.
"""

from __future__ import annotations

import torch
from opacus.grad_sample import register_norm_sampler
from torch import nn

from tabsynth.models.autoregressive.network import GroupedLinear


@register_norm_sampler(GroupedLinear)
def grouped_linear_norms(layer: GroupedLinear, activations: list[torch.Tensor],
                         backprops: torch.Tensor) -> dict[nn.Parameter, torch.Tensor]:
    """``{parameter: (B,) per-example gradient norm}`` from Opacus' batch-first views.

    ``activations[0]`` is ``(B, G, in)`` and ``backprops`` ``(B, G, out)`` (Opacus moves the
    batch dimension first before calling a norm sampler).
    """
    x, grad = activations[0], backprops
    norms = {layer.weight: torch.sqrt((x.pow(2).sum(-1) * grad.pow(2).sum(-1)).sum(1))}
    if layer.bias is not None:
        norms[layer.bias] = grad.pow(2).sum((1, 2)).sqrt()
    return norms
