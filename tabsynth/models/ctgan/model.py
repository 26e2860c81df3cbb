"""CTGAN: conditional tabular GAN.

Xu, Skoularidou, Cuesta-Infante, Veeramachaneni (2019), "Modeling Tabular Data
using Conditional GAN", NeurIPS. Ingredients, all as in the paper and its
reference implementation's defaults:

* mode-specific normalization of numerical columns (:mod:`tabsynth.encoding`);
* a conditional vector with training-by-sampling on log-frequencies
  (:class:`~tabsynth.models.conditional.ConditionalSampler`);
* a residual generator with Gumbel-softmax outputs for one-hot blocks and tanh for
  scalars, plus a cross-entropy penalty for ignoring the condition;
* a PacGAN discriminator (Lin et al. 2018) trained as a WGAN with gradient
  penalty (Gulrajani et al. 2017).

The generator looks up the conditional vector's weight rows instead of multiplying
by a one-hot vector (:class:`~tabsynth.models.ctgan.networks.ConditionedLinear`); both
networks are trained through autograd and ``torch.optim.Adam``.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from tabsynth.encoding import Span
from tabsynth.metadata import as_dataframe
from tabsynth.models.conditional import ConditionalSampler
from tabsynth.models.continuous import ContinuousSynthesizer
from tabsynth.models.ctgan.losses import (conditional_loss, example_critic_loss, gradient_penalty,
                                          wasserstein_critic_loss)
from tabsynth.models.ctgan.networks import CTGANNetworkConfig, Discriminator, Generator
from tabsynth.models.training import adam, exponential_moving_average
from tabsynth.privacy.config import DPConfig

GUMBEL_TAU = 0.2
DEFAULTS = {"epochs": 300, "batch_size": 500, "pac": 10, "discriminator_dims": (256, 256)}
# DP-SGD: Poisson batches, one example is one record (pac 1), and a smaller critic, since each
# row's gradient (through the penalty's double backward) is materialised: 0.33 ms a row at
# (128, 128) against 0.85 at (256, 256) on 2 CPU cores. Measured on Adult at total epsilon 1
# (shape err / pair err / C2ST / TSTR): 10 epochs 0.164 / 0.311 / 0.999 / 0.608, 30 epochs
# 0.096 / 0.212 / 0.990 / 0.807.
DP_DEFAULTS = {"epochs": 30, "batch_size": 1000, "pac": 1, "discriminator_dims": (128, 128)}


class CTGAN(ContinuousSynthesizer):
    """Conditional tabular GAN (Xu et al. 2019).

    Parameters
    ----------
    epochs : int or None, default None
        Passes over the training rows (``n // batch_size`` steps each); None: 300 (DP mode:
        :data:`DP_DEFAULTS`, exactly this many expected passes of the critic).
    batch_size : int or None, default None
        Rows per step; must be a multiple of ``pac``. None: 500 (DP mode: the expected
        Poisson batch of :data:`DP_DEFAULTS`).
    embedding_dim : int, default 128
        Size of the generator's noise input.
    generator_dims : tuple of int, default (256, 256)
        Hidden sizes of the residual generator.
    discriminator_dims : tuple of int or None, default None
        Hidden sizes of the critic; None: (256, 256) (DP mode: :data:`DP_DEFAULTS`).
    generator_lr, discriminator_lr : float, default 2e-4
        Adam learning rates (betas 0.5, 0.9).
    generator_decay, discriminator_decay : float, default 1e-6
        Adam weight decay.
    discriminator_steps : int, default 1
        Critic updates per generator update.
    pac : int or None, default None
        Rows per PacGAN pack; None: 10 (DP mode: 1, the only value it allows).
    generator_ema : float or None, default 0.999
        Decay of the exponential moving average of the generator's weights that sampling
        uses (:func:`~tabsynth.models.training.exponential_moving_average`); None samples
        from the last weights, as the paper does. The average samples closer to the real
        table (README, "Benchmarks": on Adult it raised SDMetrics Column Shapes and Pair
        Trends by 0.02-0.08 at every seed measured).
    device : {"auto", "cpu", "cuda"}, default "auto"
        Resolved once at ``fit``; "auto" picks CUDA when present.
    precision : {"auto", "float32", "bfloat16"}, default "auto"
        Arithmetic of the training steps (``precision_`` after fit). "bfloat16" runs them under
        ``torch.autocast`` (matrix products in bfloat16; weights, optimiser and sampling stay
        float32); "auto" picks it on a CPU with native bfloat16 products (AVX-512 BF16 or
        AMX), where an Adult epoch takes about 25% (CTGAN) and 10% (TVAE) less time at the
        same quality (``benchmarks/engine_quality.py``, seeds 0-2), and float32 elsewhere
        and in DP mode (DP-SGD's clipping needs float32 norms).
    random_state : int or None
        Seed of the model's own generators: same seed, same device -> same rows.
    verbose : bool, default True
        Show a progress bar with epoch, losses and time left.
    dp : tabsynth.DPConfig or None, default None
        Differentially private fit (DP-CTGAN done end to end): the continuous view from
        DP-released modes and category sets (:mod:`tabsynth.privacy.continuous_release`); the
        critic (no dropout, no packing) trained by DP-SGD with Poisson sampling, each example a
        real row, the fake row generated for its condition and their gradient penalty, clipped
        together (``torch.func`` per-example gradients of :func:`example_critic_loss`); each
        real row's conditional vector is one of its own categories (a uniformly chosen
        column), the generator's by log-count of the DP-released category counts; the
        generator sees only the critic (post-processing). The noise is calibrated so the
        ledger's total meets ``dp.epsilon``.

    Attributes
    ----------
    loss_history_ : list of dict
        Per epoch: ``epoch``, ``generator_loss``, ``discriminator_loss``, ``seconds`` (DP
        mode: ``epoch`` and ``seconds`` only: losses of raw rows are not released).
    privacy_ : dict or None
        DP mode: the ledger saved as ``privacy.json``.
    noise_multiplier_ : float
        DP mode: DP-SGD's calibrated noise multiplier.
    """

    name = "ctgan"
    # 2: the networks read and write rows in the span layout's internal column order.
    # 3: the critic is a packed conditioned first layer and an nn.Sequential (new state_dict keys);
    #    the generator's weight average is saved as "generator_average".
    model_format = 3

    def __init__(self, *, epochs: int | None = None, batch_size: int | None = None, embedding_dim: int = 128,
                 generator_dims: tuple[int, ...] = (256, 256), discriminator_dims: tuple[int, ...] | None = None,
                 generator_lr: float = 2e-4, discriminator_lr: float = 2e-4, generator_decay: float = 1e-6,
                 discriminator_decay: float = 1e-6, discriminator_steps: int = 1, pac: int | None = None,
                 generator_ema: float | None = 0.999, device: str = "auto", precision: str = "auto",
                 random_state: int | None = None, verbose: bool = True, dp: DPConfig | None = None):
        self.dp = DPConfig.from_value(dp)
        # None takes the mode's default, so a DP fit gets DP-SGD's settings unless told otherwise.
        defaults = DP_DEFAULTS if self.dp is not None else DEFAULTS
        self.epochs = defaults["epochs"] if epochs is None else epochs
        self.batch_size = defaults["batch_size"] if batch_size is None else batch_size
        self.embedding_dim = embedding_dim
        self.generator_dims = generator_dims
        self.discriminator_dims = defaults["discriminator_dims"] if discriminator_dims is None else discriminator_dims
        self.generator_lr = generator_lr
        self.discriminator_lr = discriminator_lr
        self.generator_decay = generator_decay
        self.discriminator_decay = discriminator_decay
        self.discriminator_steps = discriminator_steps
        self.pac = defaults["pac"] if pac is None else pac
        self.generator_ema = generator_ema
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self) -> None:
        super()._check_params()
        if self.generator_ema is not None and not 0.0 < self.generator_ema < 1.0:
            raise ValueError(f"generator_ema must be a decay in (0, 1) or None, got {self.generator_ema!r}.")
        if not (isinstance(self.pac, int) and self.pac >= 1):
            raise ValueError(f"pac must be a positive integer, got {self.pac!r}.")
        if self.dp is not None and self.pac != 1:
            raise ValueError(f"CTGAN in DP mode needs pac=1 (one example is one record for DP-SGD), got pac={self.pac}.")
        if self.batch_size < 2:
            # Batch normalisation in the generator needs at least two rows per batch.
            raise ValueError(f"CTGAN needs batch_size >= 2 (its generator uses batch normalisation), "
                             f"got {self.batch_size}.")
        if self.batch_size % self.pac:
            raise ValueError(
                f"batch_size={self.batch_size} must be a multiple of pac={self.pac}; "
                f"try batch_size={self.batch_size // self.pac * self.pac or self.pac}."
            )

    # ------------------------------------------------------------------ networks
    def _build_networks(self) -> None:
        self.cond_sampler_ = ConditionalSampler(self.encoder_.spans_, None, self.device_, self.layout_.position)
        self.config_ = CTGANNetworkConfig(
            data_width=self.encoder_.width_, cond_width=self.cond_sampler_.width,
            embedding_dim=self.embedding_dim, generator_dims=tuple(self.generator_dims),
            discriminator_dims=tuple(self.discriminator_dims), pac=self.pac,
        )
        self.generator_ = Generator(self.config_).to(self.device_)
        # DP mode: no dropout in the critic (DP-SGD's noise regularises; no random masks inside vmap).
        self.discriminator_ = Discriminator(self.config_, dropout=0.0 if self.dp is not None else 0.5).to(self.device_)
        self._generator_parameters = list(self.generator_.parameters())
        self._critic_parameters = list(self.discriminator_.parameters())
        self.generator_average_ = (None if self.generator_ema is None
                                   else exponential_moving_average(self.generator_, self.generator_ema))

    def _networks(self) -> dict[str, nn.Module]:
        networks = {"generator": self.generator_, "discriminator": self.discriminator_}
        if self.generator_average_ is not None:
            networks["generator_average"] = self.generator_average_
        return networks

    @property
    def sampling_generator_(self) -> Generator:
        """The generator sampling uses: the weight average when ``generator_ema`` is set."""
        return self.generator_ if self.generator_average_ is None else self.generator_average_.module

    # ------------------------------------------------------------------ training
    def _fit_matrix(self, data: torch.Tensor) -> None:
        # data and the generator's output are in the span layout's internal order.
        if self.dp is not None:
            self._fit_private(data)
            return
        self.cond_sampler_ = ConditionalSampler(self.encoder_.spans_, data, self.device_, self.layout_.position)
        self._data = data
        self._opt_g = adam(self.generator_.parameters(), self.generator_lr, self.generator_decay)
        self._opt_d = adam(self.discriminator_.parameters(), self.discriminator_lr, self.discriminator_decay)
        self.discriminator_.set_noise_generator(self._train_generator)
        self.loss_history_ = []
        steps = max(1, data.shape[0] // self.batch_size)
        progress = tqdm(range(self.epochs), desc="CTGAN", unit="epoch", disable=not self.verbose)
        try:
            for epoch in progress:
                start = time.perf_counter()
                loss_g, loss_d = self._train_epoch(steps)
                self.loss_history_.append({"epoch": epoch + 1, "generator_loss": loss_g,
                                           "discriminator_loss": loss_d, "seconds": time.perf_counter() - start})
                progress.set_postfix(G=f"{loss_g:.3f}", D=f"{loss_d:.3f}")
                self._end_of_epoch(epoch + 1)
        finally:
            self.discriminator_.set_noise_generator(None)
            del self._data, self._opt_g, self._opt_d

    def _train_epoch(self, steps: int) -> tuple[float, float]:
        self.generator_.train()
        self.discriminator_.train()
        total_g = total_d = torch.zeros((), device=self.device_)
        for _ in range(steps):
            for _ in range(self.discriminator_steps):
                total_d = total_d + self._discriminator_step()
            total_g = total_g + self._generator_step()
        return float(total_g) / steps, float(total_d) / (steps * self.discriminator_steps)

    def _noise_and_condition(self, batch: int):
        """Noise (B, embedding), and the training-by-sampling draw for the batch.

        Returns noise, column (B,), category (B,) and the conditional vectors' hot slots
        (B,); the last three are None when the table has no categorical column.
        """
        gen = self._train_generator
        noise = torch.randn((batch, self.embedding_dim), generator=gen, device=self.device_)
        if self.cond_sampler_.width == 0:
            return noise, None, None, None
        column, category, cond_index = self.cond_sampler_.sample_train(batch, gen)
        return noise, column, category, cond_index

    def _fake_rows(self, noise: torch.Tensor, cond_index: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Generator output ``(B, width)`` raw and activated (tanh, Gumbel-softmax), internal order."""
        raw = self.generator_(noise, cond_index)
        return raw, self.layout_.activate(raw, tau=GUMBEL_TAU, generator=self._train_generator)

    def _discriminator_step(self) -> torch.Tensor:
        """One critic update: Wasserstein loss plus gradient penalty; returns the Wasserstein loss."""
        with self._autocast():
            wasserstein, penalty = self._critic_losses()
            self._opt_d.zero_grad(set_to_none=True)
            # Only the critic's gradients: the interpolated inputs need none of their own.
            (wasserstein + penalty).backward(inputs=self._critic_parameters)
        self._opt_d.step()
        return wasserstein.detach()

    def _critic_losses(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The critic's Wasserstein loss and gradient penalty on a fresh real and fake batch."""
        gen, batch = self._train_generator, self.batch_size
        noise, column, category, cond_index = self._noise_and_condition(batch)
        if cond_index is None:
            rows = torch.randint(self._data.shape[0], (batch,), generator=gen, device=self.device_)
            real_index = None
        else:
            # Real rows are matched to a shuffled copy of the conditions, as in the paper's code.
            perm = torch.randperm(batch, generator=gen, device=self.device_)
            rows = self.cond_sampler_.sample_rows(column[perm], category[perm], gen)
            real_index = cond_index[perm]
        real = self._data.index_select(0, rows)
        with torch.no_grad():  # training mode: batch statistics, as in the paper's code
            _, fake = self._fake_rows(noise, cond_index)
        critic = self.discriminator_
        # One critic pass over real and fake packs: one product per layer instead of two, and
        # no sum of two weight gradients (the packs never mix: each pack is ``pac`` rows of one kind).
        both_cond = None if cond_index is None else torch.cat([real_index, cond_index])
        real_scores, fake_scores = critic(torch.cat([real, fake]), both_cond).chunk(2)
        wasserstein = wasserstein_critic_loss(real_scores, fake_scores)
        # The penalty interpolates whole critic inputs: rows and (dense) conditional vectors.
        if cond_index is None:
            real_in, fake_in = (real,), (fake,)
        else:
            one_hot = self.cond_sampler_.one_hot
            real_in, fake_in = (real, one_hot(real_index)), (fake, one_hot(cond_index))
        return wasserstein, gradient_penalty(critic, real_in, fake_in, self.pac, gen)

    def _generator_step(self) -> torch.Tensor:
        """One generator update: fool the critic and honour the conditional vector."""
        noise, column, category, cond_index = self._noise_and_condition(self.batch_size)
        with self._autocast():
            raw, fake = self._fake_rows(noise, cond_index)
            loss = -self.discriminator_(fake, cond_index).mean()
            if cond_index is not None:
                sampler = self.cond_sampler_
                loss = loss + conditional_loss(raw, sampler.span_index, sampler.span_mask, column, category)
            self._opt_g.zero_grad(set_to_none=True)
            # Only the generator's gradients: the critic is a fixed function in this step.
            loss.backward(inputs=self._generator_parameters)
        self._opt_g.step()
        if self.generator_average_ is not None:
            self.generator_average_.update_parameters(self.generator_)
        return loss.detach()

    def _fit_private(self, data: torch.Tensor) -> None:
        """DP-SGD on the critic for a fixed number of steps, the noise calibrated so the ledger
        meets its target; a generator step after every ``discriminator_steps`` critic steps."""
        # Conditional vectors for the generator from the released (noisy) category counts.
        self.cond_sampler_ = ConditionalSampler.from_counts(self.encoder_.spans_, self._released_category_counts,
                                                            self.device_, self.layout_.position)
        self._opt_g = adam(self.generator_.parameters(), self.generator_lr, self.generator_decay)
        opt_d = adam(self.discriminator_.parameters(), self.discriminator_lr, self.discriminator_decay)
        columns = dict.fromkeys(s.column for s in self.encoder_.spans_)
        engine = self._private_trainer(self.discriminator_, opt_d, data.shape[0], list(columns), mode="per_example")
        codes = self.cond_sampler_.codes(data)  # (n, C) each row's categories, read once: the examples' conditions
        self.generator_.train()
        self.discriminator_.train()
        self.loss_history_, critic_steps = [], 0  # epochs and seconds only: raw rows' losses are not released
        progress = tqdm(range(1, self.epochs + 1), desc="CTGAN (DP)", unit="epoch", disable=not self.verbose)
        try:
            for epoch in progress:
                start = time.perf_counter()
                for indices in engine.batches():
                    indices = indices.to(self.device_)
                    engine.step(example_critic_loss, *self._private_critic_batch(data[indices], codes[indices]))
                    critic_steps += 1
                    if critic_steps % self.discriminator_steps == 0:
                        self._generator_step()
                self.loss_history_.append({"epoch": epoch, "seconds": time.perf_counter() - start})
                self._end_of_epoch(epoch)
        finally:
            del self._opt_g
        progress.close()

    def _private_critic_batch(self, real: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The examples of one DP critic step: per real row ``(b, D)`` (its categories ``codes``
        ``(b, C)``), its dense conditional
        vector (one of its own categories, the column drawn uniformly), the fake row generated
        for that condition, the fake's conditional vector, and the penalty's mixing weight."""
        gen, b, sampler = self._train_generator, real.shape[0], self.cond_sampler_
        if sampler.width:
            column = torch.randint(sampler.n_columns, (b,), generator=gen, device=self.device_)
            category = codes.gather(1, column[:, None]).squeeze(1)
            cond_index = sampler.cond_offset[column] + category  # (b,)
            # Batch normalisation needs two fake rows: a lone real row gets a companion draw.
            extra = sampler.sample_train(max(0, 2 - b), gen)[2]
            noise = torch.randn((b + len(extra), self.embedding_dim), generator=gen, device=self.device_)
            with torch.no_grad():
                _, fake = self._fake_rows(noise, torch.cat([cond_index, extra]))
            cond = sampler.one_hot(cond_index)  # (b, C)
        else:
            noise = torch.randn((max(b, 2), self.embedding_dim), generator=gen, device=self.device_)
            with torch.no_grad():
                _, fake = self._fake_rows(noise, None)
            cond = real.new_zeros((b, 0))
        alpha = torch.rand((b,), generator=gen, device=self.device_)
        return real, cond, fake[:b], cond, alpha

    @torch.no_grad()
    def membership_scores(self, data, *, batch_size: int = 4096) -> np.ndarray:
        """White-box membership score of each row (higher: more likely a training row): the
        critic's score of the row, averaged over the conditional vectors of its own categories
        (one per categorical column); a critic with ``pac > 1`` scores packs, so each row is
        repeated to fill its pack.

        Parameters
        ----------
        data : pandas.DataFrame or pyarrow.Table
            Rows with the training table's columns.

        Returns
        -------
        ndarray of float64, shape (n,)  the privacy audit's white-box attack
        """
        self._check_fitted()
        x = self._encode(self.metadata_.check_frame(as_dataframe(data), what="table to score"))
        sampler, parts = self.cond_sampler_, []
        with self._eval_mode():
            for chunk in x.split(batch_size):
                rows = chunk.repeat_interleave(self.pac, dim=0)  # each pack holds one row, repeated
                if not sampler.width:
                    parts.append(self.discriminator_(rows, None)[:, 0])
                    continue
                slots = (sampler.codes(chunk) + sampler.cond_offset).repeat_interleave(self.pac, dim=0)  # (B pac, C)
                scores = [self.discriminator_(rows, slots[:, j])[:, 0] for j in range(sampler.n_columns)]
                parts.append(torch.stack(scores).mean(0))
        return torch.cat(parts).double().cpu().numpy()

    # ------------------------------------------------------------------ sampling
    def _guiding_condition(self, targets: list[tuple[Span, int]]) -> tuple[Span, int] | None:
        """Feed the rarest requested category to the conditional vector (hardest to hit by rejection)."""
        if not targets:
            return None
        sampler = self.cond_sampler_
        return min(targets, key=lambda t: float(sampler.frequencies[sampler.spans.index(t[0]), t[1]]))

    def _sample_matrix(self, n: int, condition: tuple[Span, int] | None,
                       generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn((n, self.embedding_dim), generator=generator, device=self.device_)
        cond_index = None
        if condition is not None:
            cond_index = self.cond_sampler_.fixed(n, *condition)
        elif self.cond_sampler_.width:
            cond_index = self.cond_sampler_.sample_original(n, generator)
        raw = self.sampling_generator_(noise, cond_index)
        # Gumbel-softmax then argmax on decode = a draw from each categorical (Gumbel-max).
        return self.layout_.to_matrix(self.layout_.activate(raw, tau=GUMBEL_TAU, generator=generator))

    # ------------------------------------------------------------------ state
    def _state_tensors(self) -> dict[str, torch.Tensor]:
        return {f"cond_sampler.{k}": v for k, v in self.cond_sampler_.state().items()}

    def _load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        prefix = "cond_sampler."
        self.cond_sampler_.load_state({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
