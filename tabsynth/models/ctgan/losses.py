"""CTGAN's losses: pure functions of tensors and modules, differentiated by autograd."""

from __future__ import annotations

import torch
from torch import nn


def gradient_penalty(critic: nn.Module, real: tuple[torch.Tensor, ...], fake: tuple[torch.Tensor, ...], pac: int,
                     generator: torch.Generator, weight: float = 10.0) -> torch.Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017) on PacGAN packs (Lin et al. 2018).

    Each pack of ``pac`` real rows is mixed with the matching pack of fake rows by one
    weight ``alpha ~ U(0, 1)``; the penalty is ``weight * mean((||grad_x D(x_mix)||_2 - 1)^2)``
    over packs, the gradient taken with respect to the pack's whole input (every part of
    every row). The input gradient comes from ``torch.autograd.grad(..., create_graph=True)``,
    so the penalty's own gradient is double backpropagation through the critic.

    Parameters
    ----------
    critic : nn.Module
        ``critic(*parts)`` -> ``(B / pac, 1)`` scores.
    real, fake : tuple of Tensor, each (B, width_i) float
        The critic's inputs in parts (CTGAN: rows and dense conditional vectors); ``B`` a
        multiple of ``pac``.
    pac : int
    generator : torch.Generator
        Draws the ``B / pac`` mixing weights.
    weight : float, default 10  (the paper's lambda)

    Returns
    -------
    Tensor ()
    """
    batch = real[0].shape[0]
    alpha = torch.rand((batch // pac, 1, 1), generator=generator, device=real[0].device, dtype=real[0].dtype)
    mixed = [torch.lerp(f.reshape(-1, pac, f.shape[1]), r.reshape(-1, pac, r.shape[1]), alpha)  # (P, pac, w)
             .reshape(batch, -1).requires_grad_(True) for r, f in zip(real, fake)]
    grads = torch.autograd.grad(critic(*mixed).sum(), mixed, create_graph=True)  # each (B, w_i)
    packs = torch.cat([g.reshape(batch // pac, -1) for g in grads], dim=1)  # (P, pac * sum w_i)
    norms = torch.linalg.vector_norm(packs, dim=1)  # (P,)
    return weight * ((norms - 1) ** 2).mean()


def example_critic_loss(critic_call, real: torch.Tensor, real_cond: torch.Tensor, fake: torch.Tensor,
                        fake_cond: torch.Tensor, alpha: torch.Tensor, weight: float = 10.0) -> torch.Tensor:
    """One example's WGAN-GP critic loss, ``D(fake) - D(real) + weight * (||grad D(mix)|| - 1)^2``,
    for a critic without packing (PacGAN's ``pac = 1``: one example is one record, as DP-SGD needs).

    The penalty's input gradient is taken with ``torch.func.grad``, so the whole loss is a
    function of tensors that ``torch.func`` can differentiate again and map over examples
    (``vmap(grad(...))``: DP-SGD's per-example gradients of a loss with a double backward,
    which Opacus' hooks cannot see). Same penalty as :func:`gradient_penalty` with ``pac = 1``.

    Parameters
    ----------
    critic_call : callable
        ``critic_call(rows (B, D), cond (B, C)) -> (B, 1)`` scores.
    real, fake : Tensor (D,)        one real row and the fake row paired with it
    real_cond, fake_cond : Tensor (C,)  their dense conditional vectors (C may be 0)
    alpha : Tensor ()               the mixing weight, ``U(0, 1)``
    weight : float, default 10

    Returns
    -------
    Tensor ()
    """
    scores = critic_call(torch.stack([real, fake]), torch.stack([real_cond, fake_cond]))  # (2, 1)
    mixed = torch.lerp(fake, real, alpha), torch.lerp(fake_cond, real_cond, alpha)

    def score(rows: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return critic_call(rows[None], cond[None]).sum()

    grad_rows, grad_cond = torch.func.grad(score, argnums=(0, 1))(*mixed)
    norm = torch.sqrt(grad_rows.square().sum() + grad_cond.square().sum() + 1e-12)
    return scores[1, 0] - scores[0, 0] + weight * (norm - 1) ** 2


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
