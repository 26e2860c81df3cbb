"""TVAE's ELBO terms: pure functions of tensors, differentiated by autograd.

The negative ELBO of Kingma & Welling (2014) with TVAE's likelihood (Xu et al. 2019,
section 4.4): ``loss_factor * reconstruction + KL``.
"""

from __future__ import annotations

import torch

from tabsynth.models.layout import SpanLayout


def reconstruction_nll(values: torch.Tensor, soft_logits: torch.Tensor, target: torch.Tensor,
                       sigma: torch.Tensor, layout: SpanLayout) -> torch.Tensor:
    """TVAE's negative log-likelihood of a batch under the decoder, per row.

    Value slots: Gaussian with learned per-slot scale ``sigma`` around ``tanh(values)``
    (the constant ``log sqrt(2 pi)`` left out, as in the reference code); one-hot blocks:
    categorical cross-entropy.

    Parameters
    ----------
    values : Tensor (B, V)             decoder output for the value slots (pre-tanh)
    soft_logits : Tensor (B, width - V)  decoder logits of the softmax slots
    target : Tensor (B, width)         encoded real rows, the layout's internal order
    sigma : Tensor (V,)                the value slots' scales
    layout : SpanLayout

    Returns
    -------
    Tensor ()  summed over slots, averaged over rows, in nats
    """
    batch, n_values = values.shape
    residual = target[:, :n_values] - torch.tanh(values)  # (B, V)
    value_nll = (residual**2 / (2 * sigma**2)).sum() + batch * torch.log(sigma).sum()
    return (value_nll + layout.categorical_nll(soft_logits, target[:, n_values:])) / batch


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) for ``(B, E)`` inputs, summed over latent dims, averaged over rows.

    ``std`` is ``exp(logvar / 2)``, which the reparameterisation has computed already.
    """
    return 0.5 * torch.sum(mu.square() + std.square() - logvar - 1) / mu.shape[0]
