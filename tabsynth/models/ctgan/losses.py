"""CTGAN's losses: pure functions of tensors and modules, differentiated by autograd."""

from __future__ import annotations

import torch
from torch import nn


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, pac: int,
                     generator: torch.Generator, weight: float = 10.0) -> torch.Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017) on PacGAN packs (Lin et al. 2018).

    Each pack of ``pac`` real rows is mixed with the matching pack of fake rows by one
    weight ``alpha ~ U(0, 1)``; the penalty is ``weight * mean((||grad_x D(x_mix)||_2 - 1)^2)``
    over packs, the gradient taken with respect to the pack's whole concatenated input.
    The input gradient comes from ``torch.autograd.grad(..., create_graph=True)``, so the
    penalty's own gradient is double backpropagation through the critic.

    Parameters
    ----------
    critic : nn.Module
        ``(B, D)`` rows -> ``(B / pac, 1)`` scores.
    real, fake : Tensor (B, D)
        Critic inputs (rows with their conditional vectors); ``B`` a multiple of ``pac``.
    pac : int
    generator : torch.Generator
        Draws the ``B / pac`` mixing weights.
    weight : float, default 10  (the paper's lambda)

    Returns
    -------
    Tensor ()
    """
    batch, width = real.shape
    alpha = torch.rand((batch // pac, 1, 1), generator=generator, device=real.device, dtype=real.dtype)
    mixed = torch.lerp(fake.reshape(-1, pac, width), real.reshape(-1, pac, width), alpha)  # (P, pac, D)
    mixed = mixed.reshape(batch, width).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)  # (B, D)
    norms = grad.reshape(batch // pac, pac * width).norm(2, dim=1)  # (P,)
    return weight * ((norms - 1) ** 2).mean()


def wasserstein_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The critic's Wasserstein loss ``mean(D(fake)) - mean(D(real))`` (to minimise)."""
    return fake_scores.mean() - real_scores.mean()


def conditional_loss(logits: torch.Tensor, span_index: torch.Tensor, span_mask: torch.Tensor,
                     column: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
    """CTGAN's generator penalty for not producing the category it was conditioned on.

    Cross-entropy between each row's logits in its conditioned column and the
    requested category, averaged over the batch (Xu et al. 2019, section 4.3).

    Parameters
    ----------
    logits : Tensor (B, width)       raw generator output
    span_index, span_mask : (C, K)   columns of ``logits`` holding each category span, and their
                                     validity (see ConditionalSampler), in the order of ``logits``
    column, category : LongTensor (B,)

    Returns
    -------
    Tensor ()
    """
    index = span_index[column]  # (B, K)
    chosen = logits.gather(1, index).masked_fill(~span_mask[column], float("-inf"))  # (B, K)
    return nn.functional.cross_entropy(chosen, category)
