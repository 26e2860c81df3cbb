"""Loss functions of CTGAN and TVAE: pure functions of tensors, no state."""

from __future__ import annotations

import torch
from torch import nn

from tabsynth.models.layout import SpanLayout


def gradient_penalty(discriminator: nn.Module, real_preactivation: torch.Tensor,
                     fake_preactivation: torch.Tensor, generator: torch.Generator,
                     weight: float = 10.0) -> torch.Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017) on PacGAN packs (Lin et al. 2018).

    Interpolates real and fake packs with one mixing weight per pack and penalises
    ``(||grad D||_2 - 1)^2`` of each interpolated pack's score with respect to its
    concatenated input. Two shortcuts, both exact:

    * the input gradient is the critic's closed form
      (:meth:`~tabsynth.models.ctgan.Discriminator.input_gradient`), so the penalty
      needs a first-order backward pass only;
    * that gradient depends on the interpolated input only through the first layer's
      pre-activation, which is linear in the input: the interpolation of the real and
      fake packs' pre-activations (kept from the critic pass) replaces running the
      first layer, 2,820 inputs wide on Adult, on the interpolated packs.

    Parameters
    ----------
    discriminator : tabsynth.models.ctgan.Discriminator
        Any critic with ``input_gradient(first_preactivation) -> (P, pac * D)``,
        differentiable in its weights.
    real_preactivation, fake_preactivation : Tensor (P, h_1)
        First-layer pre-activations of P real and P fake packs, without gradient (see
        ``Discriminator.scores_and_first_preactivation``).
    generator : torch.Generator
        Draws the P mixing weights.

    Returns
    -------
    Tensor ()  ``weight * mean((||grad|| - 1)^2)``
    """
    packs = real_preactivation.shape[0]
    alpha = torch.rand((packs, 1), generator=generator, device=real_preactivation.device)
    alpha = alpha.to(real_preactivation.dtype)
    mixed = torch.lerp(fake_preactivation, real_preactivation, alpha)  # alpha * real + (1 - alpha) * fake
    norms = discriminator.input_gradient(mixed).norm(2, dim=1)  # (P,)
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
