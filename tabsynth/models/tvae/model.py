"""TVAE: variational autoencoder for tables.

Xu, Skoularidou, Cuesta-Infante, Veeramachaneni (2019), "Modeling Tabular Data
using Conditional GAN", NeurIPS, section 4.4 (the TVAE baseline). Trained by
maximising the ELBO (Kingma & Welling 2014): per-span reconstruction terms (a
Gaussian with learned scale on each mode-normalized scalar, a categorical on each
one-hot block) plus the KL divergence of the encoder's posterior to N(0, I).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from tabsynth.encoding import Span
from tabsynth.metadata import as_dataframe
from tabsynth.models.continuous import ContinuousSynthesizer
from tabsynth.models.layout import gumbel_noise
from tabsynth.models.training import adam, steps_per_epoch
from tabsynth.models.tvae.losses import negative_elbo
from tabsynth.models.tvae.networks import Decoder, Encoder, TVAENetworkConfig, VariationalAutoencoder
from tabsynth.privacy.config import DPConfig

# Bounds of the decoder's per-slot scale, as in the reference implementation.
SIGMA_MIN, SIGMA_MAX = 0.01, 1.0
DEFAULTS = {"epochs": 300, "batch_size": 500, "learning_rate": 1e-3, "embedding_dim": 128, "loss_factor": 2.0}
# DP-SGD wants large Poisson batches and few steps; with so few steps the encoder learns only
# when the KL term weighs less and the latent is small (measured on Adult at total epsilon 1,
# shape err / pair err / TSTR: loss_factor 2 and latent 128 0.052 / 0.260 / 0.477; loss_factor 10
# 0.056 / 0.263 / 0.616; and latent 16 0.072 / 0.257 / 0.686; with batch 2048, 30 epochs and
# Adam 1e-2 0.124 / 0.270 / 0.825).
DP_DEFAULTS = {"epochs": 30, "batch_size": 2048, "learning_rate": 1e-2, "embedding_dim": 16, "loss_factor": 10.0}


class TVAE(ContinuousSynthesizer):
    """Tabular variational autoencoder (Xu et al. 2019).

    Parameters
    ----------
    epochs : int or None, default None
        Passes over the shuffled training rows (None: 300; in DP mode exactly this many
        expected passes, None: :data:`DP_DEFAULTS`).
    batch_size : int or None, default None
        Rows per step (None: 500; in DP mode the expected Poisson batch, None: :data:`DP_DEFAULTS`).
    embedding_dim : int or None, default None
        Latent size (None: 128; in DP mode :data:`DP_DEFAULTS`).
    compress_dims, decompress_dims : tuple of int, default (128, 128)
        Hidden sizes of encoder and decoder.
    l2scale : float, default 1e-5
        Adam weight decay.
    learning_rate : float or None, default None
        Adam step (None: 1e-3; in DP mode :data:`DP_DEFAULTS`).
    loss_factor : float or None, default None
        Weight of the reconstruction term against the KL term (None: 2; in DP mode
        :data:`DP_DEFAULTS`).
    device, precision, random_state, verbose
        As in :class:`~tabsynth.CTGAN`.
    dp : tabsynth.DPConfig or None, default None
        Differentially private fit: the continuous view is built from DP-released modes and
        category sets only (:mod:`tabsynth.privacy.continuous_release`: no mixture fit), and
        encoder and decoder (no BatchNorm) are trained together by DP-SGD with Poisson
        sampling for exactly ``epochs`` expected passes, one clipped gradient per row
        (``torch.func`` per-example gradients of :class:`VariationalAutoencoder`, the
        decoder's scales included), the noise calibrated so the ledger's total meets
        ``dp.epsilon``. No validation rows, no schedule.

    Attributes
    ----------
    loss_history_ : list of dict
        Per epoch: ``epoch``, ``loss`` (negative weighted ELBO), ``reconstruction``, ``kl``, ``seconds``
        (DP mode: ``epoch`` and ``seconds`` only: losses of raw rows are not released).
    privacy_ : dict or None
        DP mode: the ledger saved as ``privacy.json``.
    noise_multiplier_ : float
        DP mode: DP-SGD's calibrated noise multiplier.
    """

    name = "tvae"
    # 2: the networks read and write rows in the span layout's internal column order.
    # 3: the decoder's output layer is split into value and softmax heads.
    model_format = 3

    def __init__(self, *, epochs: int | None = None, batch_size: int | None = None, embedding_dim: int | None = None,
                 compress_dims: tuple[int, ...] = (128, 128), decompress_dims: tuple[int, ...] = (128, 128),
                 l2scale: float = 1e-5, learning_rate: float | None = None, loss_factor: float | None = None,
                 device: str = "auto", precision: str = "auto", random_state: int | None = None,
                 verbose: bool = True, dp: DPConfig | None = None):
        self.dp = DPConfig.from_value(dp)
        # None takes the mode's default, so a DP fit gets DP-SGD's settings unless told otherwise.
        defaults = DP_DEFAULTS if self.dp is not None else DEFAULTS
        self.epochs = defaults["epochs"] if epochs is None else epochs
        self.batch_size = defaults["batch_size"] if batch_size is None else batch_size
        self.embedding_dim = defaults["embedding_dim"] if embedding_dim is None else embedding_dim
        self.compress_dims = compress_dims
        self.decompress_dims = decompress_dims
        self.l2scale = l2scale
        self.learning_rate = defaults["learning_rate"] if learning_rate is None else learning_rate
        self.loss_factor = defaults["loss_factor"] if loss_factor is None else loss_factor
        self.device = device
        self.precision = precision
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
        if self.dp is not None:
            self._fit_private(data)
            return
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
        eps = torch.randn((x.shape[0], self.embedding_dim), generator=self._train_generator, device=self.device_)
        with self._autocast():
            loss, recon, kl = negative_elbo(self.vae_encoder_, self.decoder_, x, eps, self.layout_, self.loss_factor)
            self._optimizer.zero_grad(set_to_none=True)
            loss.backward()
        self._optimizer.step()
        with torch.no_grad():
            self.decoder_.sigma.clamp_(SIGMA_MIN, SIGMA_MAX)
        return torch.stack([loss, recon, kl]).detach()

    def _fit_private(self, data: torch.Tensor) -> None:
        """DP-SGD for a fixed number of steps, the noise calibrated so the ledger meets its target."""
        vae = VariationalAutoencoder(self.vae_encoder_, self.decoder_, self.layout_, self.loss_factor)
        optimizer = adam(vae.parameters(), self.learning_rate, self.l2scale, betas=(0.9, 0.999))
        columns = dict.fromkeys(s.column for s in self.encoder_.spans_)
        engine = self._private_trainer(vae, optimizer, data.shape[0], list(columns), mode="per_example")

        def row_loss(call, x, eps):  # one row's negative ELBO: the forward on a batch of one
            return call(x[None], eps[None])

        vae.train()
        self.loss_history_ = []  # epochs and seconds only: losses of raw rows are not released
        progress = tqdm(range(1, self.epochs + 1), desc="TVAE (DP)", unit="epoch", disable=not self.verbose)
        for epoch in progress:
            start = time.perf_counter()
            for indices in engine.batches():
                x = data[indices.to(self.device_)]
                eps = torch.randn((len(x), self.embedding_dim), generator=self._train_generator, device=self.device_)
                engine.step(row_loss, x, eps)
                with torch.no_grad():
                    self.decoder_.sigma.clamp_(SIGMA_MIN, SIGMA_MAX)
            self.loss_history_.append({"epoch": epoch, "seconds": time.perf_counter() - start})
            self._end_of_epoch(epoch)
        progress.close()

    @torch.no_grad()
    def membership_scores(self, data, *, batch_size: int = 4096) -> np.ndarray:
        """White-box membership score of each row (higher: more likely a training row): minus its
        negative ELBO (a lower bound on its log-likelihood) at the posterior mean (``eps = 0``).

        Parameters
        ----------
        data : pandas.DataFrame or pyarrow.Table
            Rows with the training table's columns.

        Returns
        -------
        ndarray of float64, shape (n,)  in nats; the privacy audit's white-box attack
        """
        self._check_fitted()
        x = self._encode(self.metadata_.check_frame(as_dataframe(data), what="table to score"))
        vae = VariationalAutoencoder(self.vae_encoder_, self.decoder_, self.layout_, self.loss_factor)
        per_row = torch.func.vmap(lambda row, eps: vae(row[None], eps[None]))  # one row's loss at a time
        with self._eval_mode():
            parts = [-per_row(chunk, torch.zeros((len(chunk), self.embedding_dim), device=self.device_))
                     for chunk in x.split(batch_size)]
        return torch.cat(parts).double().cpu().numpy()

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
