"""The VAE's loss: a pure function of tensors, differentiated by autograd."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def negative_elbo(logits: torch.Tensor, images: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor,
                  beta: float = 1.0) -> torch.Tensor:
    """Per-example negative evidence lower bound (Kingma & Welling 2014), in nats.

    ``-ELBO = E_q[-log p(x | z)] + beta * KL(q(z | x) || N(0, I))`` with one reparameterised
    draw of z, a Bernoulli likelihood per pixel whose target is the grey level in [0, 1]
    (the continuous-Bernoulli-free form most MNIST VAEs use), and the Gaussian KL in closed
    form.

    Parameters
    ----------
    logits : Tensor (B, C, H, W)   decoder output, pixel logits
    images : Tensor (B, C, H, W)   targets in [-1, 1] (mapped to [0, 1] here)
    mean, log_var : Tensor (B, latent)
    beta : float, default 1.0      weight of the KL term (1: the ELBO itself)

    Returns
    -------
    Tensor (B,)
    """
    targets = (images + 1.0) / 2.0
    reconstruction = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").flatten(1).sum(1)  # (B,)
    kl = 0.5 * (mean.square() + log_var.exp() - 1.0 - log_var).sum(1)  # (B,)
    return reconstruction + beta * kl
