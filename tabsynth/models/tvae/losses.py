"""TVAE's ELBO terms: pure functions of tensors, differentiated by autograd.

The negative ELBO of Kingma & Welling (2014) with TVAE's likelihood (Xu et al. 2019,
section 4.4): ``loss_factor * reconstruction + KL``.
"""

from __future__ import annotations

import torch

from tabsynth.models.layout import SpanLayout


def reconstruction_nll(recon: torch.Tensor, target: torch.Tensor, sigma: torch.Tensor,
                       layout: SpanLayout) -> torch.Tensor:
    """TVAE's negative log-likelihood of a batch under the decoder, per row.

    Value slots: Gaussian with learned per-slot scale ``sigma`` around ``tanh(recon)``
    (the constant ``log sqrt(2 pi)`` left out, as in the reference code); one-hot blocks:
    categorical cross-entropy.

    Parameters
    ----------
    recon : Tensor (B, width)   decoder output (pre-activation), the layout's internal order
    target : Tensor (B, width)  encoded real rows, internal order
    sigma : Tensor (width,)     decoder scales, internal order (only value slots are used)
    layout : SpanLayout

    Returns
    -------
    Tensor ()  summed over slots, averaged over rows, in nats
    """
    batch, n_values = recon.shape[0], layout.n_values
    residual = target[:, :n_values] - torch.tanh(recon[:, :n_values])  # (B, V)
    scale = sigma[:n_values]
    value_nll = (residual**2 / (2 * scale**2)).sum() + batch * torch.log(scale).sum()
    return (value_nll + layout.categorical_nll(recon, target)) / batch


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) for ``(B, E)`` inputs, summed over latent dims, averaged over rows."""
    return -0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp()) / mu.shape[0]
