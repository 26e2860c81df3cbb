"""Loss functions of CTGAN and TVAE: pure functions of tensors, no state."""

from __future__ import annotations

import torch
from torch import nn

from tabsynth.models.layout import SpanLayout


def gradient_penalty(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor, pac: int,
                     generator: torch.Generator, weight: float = 10.0) -> torch.Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017) on PacGAN packs (Lin et al. 2018).

    Interpolates real and fake rows with one mixing weight per pack of ``pac`` rows
    and penalises ``(||grad D||_2 - 1)^2`` over each pack's concatenated input. The
    input gradient comes from ``discriminator.input_gradient`` (closed form for a
    piecewise-linear critic, see :meth:`Discriminator.input_gradient`), so the
    penalty needs a first-order backward pass only.

    Parameters
    ----------
    discriminator : tabsynth.models.ctgan.Discriminator
        Any critic with ``input_gradient(x) -> (B / pac, pac * D)``, differentiable in its weights.
    real, fake : Tensor (B, D)
        Discriminator inputs (data and conditional vector); B divisible by ``pac``.

    Returns
    -------
    Tensor ()  ``weight * mean((||grad|| - 1)^2)``
    """
    batch, width = real.shape
    alpha = torch.rand((batch // pac, 1, 1), generator=generator, device=real.device)
    alpha = alpha.expand(-1, pac, width).reshape(batch, width)  # (B, D)
    mixed = alpha * real + (1 - alpha) * fake
    norms = discriminator.input_gradient(mixed).norm(2, dim=1)  # (B / pac,)
    return weight * ((norms - 1) ** 2).mean()


def conditional_loss(logits: torch.Tensor, span_index: torch.Tensor, span_mask: torch.Tensor,
                     column: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
    """CTGAN's generator penalty for not producing the category it was conditioned on.

    Cross-entropy between each row's logits in its conditioned column and the
    requested category, averaged over the batch.

    Parameters
    ----------
    logits : Tensor (B, width)       raw generator output
    span_index, span_mask : (C, K)   columns of ``logits`` holding each category span, and their
                                     validity (see ConditionalSampler), in the order of ``logits``
    column, category : LongTensor (B,)
    """
    index = span_index[column]  # (B, K)
    chosen = logits.gather(1, index).masked_fill(~span_mask[column], float("-inf"))  # (B, K)
    return nn.functional.cross_entropy(chosen, category)


def tvae_reconstruction_loss(recon: torch.Tensor, target: torch.Tensor, sigma: torch.Tensor,
                             layout: SpanLayout) -> torch.Tensor:
    """TVAE's negative log-likelihood of a batch under the decoder, per row.

    Value slots: Gaussian with learned per-slot scale ``sigma`` around ``tanh(recon)``;
    one-hot blocks: categorical cross-entropy (Xu et al. 2019, section 4.4).

    Parameters
    ----------
    recon : Tensor (B, width)   decoder output (pre-activation), the layout's internal order
    target : Tensor (B, width)  encoded real rows, internal order
    sigma : Tensor (width,)     decoder scales, internal order (only value slots are used)

    Returns
    -------
    Tensor ()  summed over slots, averaged over rows
    """
    batch, n_values = recon.shape[0], layout.n_values
    residual = target[:, :n_values] - torch.tanh(recon[:, :n_values])  # (B, V)
    scale = sigma[:n_values]
    value_nll = (residual**2 / (2 * scale**2)).sum() + batch * torch.log(scale).sum()
    return (value_nll + layout.categorical_nll(recon, target)) / batch


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over latent dims, averaged over rows."""
    return -0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp()) / mu.shape[0]
