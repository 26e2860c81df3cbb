"""TVAE's ELBO terms: pure functions of tensors, differentiated by autograd.

The negative ELBO of Kingma & Welling (2014) with TVAE's likelihood (Xu et al. 2019,
section 4.4): ``loss_factor * reconstruction + KL``.
"""

from __future__ import annotations

import torch

from tabsynth.models.layout import SpanLayout


def reconstruction_nll(values: torch.Tensor, soft_logits: torch.Tensor, target: torch.Tensor,
                       sigma: torch.Tensor, layout: SpanLayout, *, exact_shift: bool = False) -> torch.Tensor:
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
    exact_shift : bool, default False
        See :meth:`SpanLayout.categorical_nll` (True under ``torch.func.vmap``).

    Returns
    -------
    Tensor ()  summed over slots, averaged over rows, in nats
    """
    batch, n_values = values.shape
    residual = target[:, :n_values] - torch.tanh(values)  # (B, V)
    value_nll = (residual**2 / (2 * sigma**2)).sum() + batch * torch.log(sigma).sum()
    return (value_nll + layout.categorical_nll(soft_logits, target[:, n_values:], exact_shift=exact_shift)) / batch


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) for ``(B, E)`` inputs, summed over latent dims, averaged over rows.

    ``std`` is ``exp(logvar / 2)``, which the reparameterisation has computed already.
    """
    return 0.5 * torch.sum(mu.square() + std.square() - logvar - 1) / mu.shape[0]


def negative_elbo(encoder: torch.nn.Module, decoder: torch.nn.Module, x: torch.Tensor, eps: torch.Tensor,
                  layout: SpanLayout, loss_factor: float, *,
                  exact_shift: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TVAE's training loss on a batch: ``loss_factor * reconstruction + KL``, with its two terms.

    The reparameterisation ``z = mu + eps * exp(logvar / 2)`` takes the standard-normal draws
    ``eps`` as an input, so the function has no randomness of its own (DP-SGD's per-example
    gradients map it over rows with ``torch.func.vmap``).

    Parameters
    ----------
    encoder, decoder : nn.Module
        :class:`~tabsynth.models.tvae.networks.Encoder` and ``Decoder``.
    x : Tensor (B, width)
        Encoded rows in the layout's internal order.
    eps : Tensor (B, embedding)
        Standard-normal draws.
    layout : SpanLayout
    loss_factor : float
    exact_shift : bool, default False
        See :meth:`SpanLayout.categorical_nll` (True under ``torch.func.vmap``).

    Returns
    -------
    (loss, reconstruction, kl) : three Tensors ()
        Averaged over the ``B`` rows, in nats.
    """
    mu, logvar = encoder(x)  # (B, E) each
    std = torch.exp(0.5 * logvar)
    z = torch.addcmul(mu, eps, std)  # reparameterisation
    values, soft_logits = decoder(z)  # (B, V), (B, width - V)
    recon = reconstruction_nll(values, soft_logits, x, decoder.sigma, layout, exact_shift=exact_shift)
    kl = kl_to_standard_normal(mu, logvar, std)
    return loss_factor * recon + kl, recon, kl
