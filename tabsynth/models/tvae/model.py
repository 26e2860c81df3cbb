"""TVAE: variational autoencoder for tables.

Xu, Skoularidou, Cuesta-Infante, Veeramachaneni (2019), "Modeling Tabular Data
using Conditional GAN", NeurIPS, section 4.4 (the TVAE baseline). Trained by
maximising the ELBO (Kingma & Welling 2014): per-span reconstruction terms (a
Gaussian with learned scale on each mode-normalized scalar, a categorical on each
one-hot block) plus the KL divergence of the encoder's posterior to N(0, I).
"""

from __future__ import annotations

import time

import torch
from torch import nn
from tqdm import tqdm

from tabsynth.encoding import Span
from tabsynth.models.continuous import ContinuousSynthesizer
from tabsynth.models.layout import gumbel_noise
from tabsynth.models.training import adam, steps_per_epoch
from tabsynth.models.tvae.losses import kl_to_standard_normal, reconstruction_nll
from tabsynth.models.tvae.networks import Decoder, Encoder, TVAENetworkConfig

# Bounds of the decoder's per-slot scale, as in the reference implementation.
SIGMA_MIN, SIGMA_MAX = 0.01, 1.0


class TVAE(ContinuousSynthesizer):
    """Tabular variational autoencoder (Xu et al. 2019).

    Parameters
    ----------
    epochs : int, default 300
        Passes over the shuffled training rows.
    batch_size : int, default 500
    embedding_dim : int, default 128
        Latent size.
    compress_dims, decompress_dims : tuple of int, default (128, 128)
        Hidden sizes of encoder and decoder.
    l2scale : float, default 1e-5
        Adam weight decay.
    learning_rate : float, default 1e-3
    loss_factor : float, default 2.0
        Weight of the reconstruction term against the KL term.
    device, random_state, verbose
        As in :class:`~tabsynth.CTGAN`.

    Attributes
    ----------
    loss_history_ : list of dict
        Per epoch: ``epoch``, ``loss`` (negative weighted ELBO), ``reconstruction``, ``kl``, ``seconds``.
    """

    name = "tvae"
    # 2: the networks read and write rows in the span layout's internal column order.
    # 3: the decoder's output layer is split into value and softmax heads.
    model_format = 3

    def __init__(self, *, epochs: int = 300, batch_size: int = 500, embedding_dim: int = 128,
                 compress_dims: tuple[int, ...] = (128, 128), decompress_dims: tuple[int, ...] = (128, 128),
                 l2scale: float = 1e-5, learning_rate: float = 1e-3, loss_factor: float = 2.0,
                 device: str = "auto", random_state: int | None = None, verbose: bool = True):
        self.epochs = epochs
        self.batch_size = batch_size
        self.embedding_dim = embedding_dim
        self.compress_dims = compress_dims
        self.decompress_dims = decompress_dims
        self.l2scale = l2scale
        self.learning_rate = learning_rate
        self.loss_factor = loss_factor
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _build_networks(self) -> None:
        self.config_ = TVAENetworkConfig(
            data_width=self.encoder_.width_, n_values=self.layout_.n_values, embedding_dim=self.embedding_dim,
            compress_dims=tuple(self.compress_dims), decompress_dims=tuple(self.decompress_dims),
        )
        self.vae_encoder_ = Encoder(self.config_).to(self.device_)
        self.decoder_ = Decoder(self.config_).to(self.device_)

    def _networks(self) -> dict[str, nn.Module]:
        return {"encoder": self.vae_encoder_, "decoder": self.decoder_}

    # ------------------------------------------------------------------ training
    def _fit_matrix(self, data: torch.Tensor) -> None:
        parameters = [*self.vae_encoder_.parameters(), *self.decoder_.parameters()]
        self._optimizer = adam(parameters, self.learning_rate, self.l2scale, betas=(0.9, 0.999))
        self._data = data  # (n, width), the span layout's internal order
        self.loss_history_ = []
        progress = tqdm(range(self.epochs), desc="TVAE", unit="epoch", disable=not self.verbose)
        try:
            for epoch in progress:
                start = time.perf_counter()
                loss, recon, kl = self._train_epoch()
                self.loss_history_.append({"epoch": epoch + 1, "loss": loss, "reconstruction": recon, "kl": kl,
                                           "seconds": time.perf_counter() - start})
                progress.set_postfix(loss=f"{loss:.3f}")
                self._end_of_epoch(epoch + 1)
        finally:
            del self._data, self._optimizer

    def _train_epoch(self) -> tuple[float, float, float]:
        self.vae_encoder_.train()
        self.decoder_.train()
        n = self._data.shape[0]
        order = torch.randperm(n, generator=self._train_generator, device=self.device_)
        steps = steps_per_epoch(n, self.batch_size)
        totals = torch.zeros(3, device=self.device_)
        for step in range(steps):
            rows = order[step * self.batch_size : (step + 1) * self.batch_size]
            totals += self._train_step(self._data.index_select(0, rows))
        loss, recon, kl = (totals / steps).tolist()
        return loss, recon, kl

    def _train_step(self, x: torch.Tensor) -> torch.Tensor:
        """One ELBO step on ``x`` (B, width), rows in the layout's internal order; returns
        ``[loss, reconstruction, kl]`` (3,)."""
        mu, logvar = self.vae_encoder_(x)  # (B, E) each
        eps = torch.randn(mu.shape, generator=self._train_generator, device=self.device_)
        std = torch.exp(0.5 * logvar)
        z = torch.addcmul(mu, eps, std)  # reparameterisation
        values, soft_logits = self.decoder_(z)  # (B, V), (B, width - V)
        recon = reconstruction_nll(values, soft_logits, x, self.decoder_.sigma, self.layout_)
        kl = kl_to_standard_normal(mu, logvar, std)
        loss = self.loss_factor * recon + kl
        self._optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._optimizer.step()
        with torch.no_grad():
            self.decoder_.sigma.clamp_(SIGMA_MIN, SIGMA_MAX)
        return torch.stack([loss, recon, kl]).detach()

    # ------------------------------------------------------------------ sampling
    def _sample_matrix(self, n: int, condition: tuple[Span, int] | None,
                       generator: torch.Generator) -> torch.Tensor:
        z = torch.randn((n, self.embedding_dim), generator=generator, device=self.device_)
        raw_values, soft = self.decoder_(z)  # (n, V), (n, width - V): the internal order's two parts
        # Draw from the decoder's likelihood: Gaussian noise of scale sigma on each scalar,
        # a categorical draw (Gumbel-max) on each one-hot block.
        values = torch.tanh(raw_values)
        values = values + torch.randn(values.shape, generator=generator, device=self.device_) * self.decoder_.sigma
        soft = soft + gumbel_noise(soft.shape, generator, self.device_)
        return self.layout_.to_matrix(torch.cat([values, soft], dim=1))
