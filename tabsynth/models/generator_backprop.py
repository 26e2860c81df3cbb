"""CTGAN's residual generator trained without autograd: its forward pass and its backward pass by hand.

The generator (Xu et al. 2019, section 4.4) is a stack of residual blocks
``h_{k+1} = [ReLU(BN(W_k h_k + b_k + C_k[c])), h_k]`` and an output layer
``raw = W h_L + b + C[c]``, where ``c`` is each row's conditional-vector slot
(:class:`~tabsynth.models.ctgan._ConditionedLinear`). Its backward pass is short:

* output layer: ``dW = g^T h_L``, ``db = sum g``, ``dC[c] += g``, ``dh_L = g W``;
* block k, from the last: split ``dh_{k+1}`` into the block's own part and ``dh_k``; ReLU's
  mask; batch normalisation's backward (training mode, batch statistics:
  ``aten.native_batch_norm_backward``, the kernel autograd calls); then the linear
  layer as above, its input gradient added to ``dh_k``.

Why by hand: autograd's graph for this network on Adult's shapes (batch 500, 2 blocks
of 256) cost about as much bookkeeping as the products themselves on a 2-core CPU: each
residual concatenation copies its input forward and splits the gradient backward, and
each parameter's gradient is allocated afresh every step. Here the blocks write into one
preallocated ``(B, E + sum hidden)`` buffer laid out ``[r_L, ..., r_1, noise]``, so every
``h_k`` is a view of it and nothing is concatenated or split. The module's own
``forward`` (autograd) stays the reference; tests compare values, gradients and
batch-norm running statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tabsynth.models.flat_parameters import grad_buffer

_relu_backward = torch.ops.aten.threshold_backward.default
_batch_norm_backward = torch.ops.aten.native_batch_norm_backward.default


@dataclass
class GeneratorPass:
    """What :func:`generator_backward` needs from :func:`generator_forward`.

    Attributes
    ----------
    hidden : Tensor (B, E + sum hidden)
        ``[r_L, ..., r_1, noise]``: ``h_k`` is ``hidden[:, starts[k]:]``.
    starts : list of int
        Column where each block's input begins; ``starts[k] - width_k`` is where its output does.
    preactivations : list of Tensor (B, width_k)
        Each block's batch-norm input.
    batch_statistics : list of (Tensor, Tensor)
        Each block's batch mean and inverse standard deviation, ``(width_k,)`` each.
    cond_index : LongTensor (B,) or None
    """

    hidden: torch.Tensor
    starts: list[int]
    preactivations: list[torch.Tensor]
    batch_statistics: list[tuple[torch.Tensor, torch.Tensor]]
    cond_index: torch.Tensor | None


def generator_forward(generator: nn.Module, noise: torch.Tensor,
                      cond_index: torch.Tensor | None) -> tuple[torch.Tensor, GeneratorPass]:
    """The generator's training-mode forward pass, without autograd.

    Training mode only: batch normalisation uses the batch's statistics and updates each
    layer's running statistics (momentum as set on the layer) and ``num_batches_tracked``,
    as ``nn.BatchNorm1d`` does in training mode. Sampling uses the module's own forward.

    Parameters
    ----------
    generator : tabsynth.models.ctgan.Generator
    noise : Tensor (B, E)
    cond_index : LongTensor (B,) or None

    Returns
    -------
    raw : Tensor (B, data_width)
    GeneratorPass

    Raises
    ------
    ValueError
        If the generator is in eval mode, or the batch has fewer than 2 rows (batch
        statistics need two; ``nn.BatchNorm1d`` refuses one row the same way).
    """
    if not generator.training:
        raise ValueError("generator_forward is the training pass; call generator.train() first "
                         "(sampling uses the module's forward in eval mode).")
    if noise.shape[0] < 2:
        raise ValueError(f"generator_forward needs at least 2 rows for batch statistics, got {noise.shape[0]}.")
    with torch.no_grad():
        batch, embedding = noise.shape
        widths = [block.fc.dense.out_features for block in generator.blocks]
        hidden = torch.empty((batch, embedding + sum(widths)), device=noise.device, dtype=noise.dtype)
        start = hidden.shape[1] - embedding
        hidden[:, start:] = noise
        starts, preactivations, statistics = [], [], []
        for block, width in zip(generator.blocks, widths):
            pre = block.fc(hidden[:, start:], cond_index)
            bn = block.bn
            normalised, mean, inverse_std = torch.native_batch_norm(
                pre, bn.weight, bn.bias, bn.running_mean, bn.running_var, True, bn.momentum, bn.eps)
            bn.num_batches_tracked.add_(1)
            starts.append(start)
            start -= width
            torch.clamp_min(normalised, 0, out=hidden[:, start : start + width])
            preactivations.append(pre)
            statistics.append((mean, inverse_std))
        raw = generator.out(hidden, cond_index)
    return raw, GeneratorPass(hidden, starts, preactivations, statistics, cond_index)


def generator_backward(generator: nn.Module, forward_pass: GeneratorPass, raw_grad: torch.Tensor) -> None:
    """Back-propagate ``raw_grad`` = dL/draw ``(B, data_width)`` through the generator.

    Writes every parameter's gradient into its ``.grad`` (overwritten, allocated when None).
    """
    with torch.no_grad():
        hidden, cond_index = forward_pass.hidden, forward_pass.cond_index
        hidden_grad = _linear_backward(generator.out, hidden, raw_grad, cond_index, input_gradient=True)
        blocks = list(zip(generator.blocks, forward_pass.starts, forward_pass.preactivations,
                          forward_pass.batch_statistics))
        for k in range(len(blocks) - 1, -1, -1):
            block, start, pre, (mean, inverse_std) = blocks[k]
            width = pre.shape[1]
            out_start = start - width
            activation_grad = _relu_backward(hidden_grad[:, out_start:start], hidden[:, out_start:start], 0)
            bn = block.bn
            pre_grad, weight_grad, bias_grad = _batch_norm_backward(
                activation_grad, pre, bn.weight, bn.running_mean, bn.running_var, mean, inverse_std, True, bn.eps,
                [True, True, True])
            grad_buffer(bn.weight).copy_(weight_grad)
            grad_buffer(bn.bias).copy_(bias_grad)
            input_grad = _linear_backward(block.fc, hidden[:, start:], pre_grad, cond_index, input_gradient=k > 0)
            if k > 0:  # the block's input is the earlier blocks' outputs and the noise: add into their part
                hidden_grad[:, start:].add_(input_grad)


def _linear_backward(layer: nn.Module, x: torch.Tensor, grad: torch.Tensor, cond_index: torch.Tensor | None,
                     *, input_gradient: bool) -> torch.Tensor | None:
    """Gradients of a ``_ConditionedLinear`` given dL/dout ``grad`` (B, out): writes ``.grad``
    of its weight, bias and conditional rows; returns dL/dx (B, in) when asked."""
    torch.mm(grad.t(), x, out=grad_buffer(layer.dense.weight))
    torch.sum(grad, dim=0, out=grad_buffer(layer.dense.bias))
    cond_grad = grad_buffer(layer.cond).zero_()
    if cond_index is not None:
        cond_grad.index_add_(0, cond_index, grad)
    return torch.mm(grad, layer.dense.weight) if input_gradient else None
