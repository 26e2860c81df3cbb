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

Some computations take cheaper routes to the same functions (tested for equality in
tests/unit/test_ctgan_networks.py): the generator looks up the conditional vector's
weight rows instead of multiplying by a one-hot vector, the gradient penalty takes
the critic's input gradient in closed form instead of by double backpropagation, and
training differentiates both networks by hand, without autograd
(:mod:`~tabsynth.models.wgan_gp`, :mod:`~tabsynth.models.generator_loss`,
:mod:`~tabsynth.models.generator_backprop`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import nn
from tqdm import tqdm

from tabsynth.encoding import Span
from tabsynth.models.base import BaseSynthesizer, adam
from tabsynth.models.conditional import ConditionalSampler
from tabsynth.models.generator_backprop import generator_backward, generator_forward
from tabsynth.models.generator_loss import generator_loss_gradient
from tabsynth.models.wgan_gp import critic_step_gradients

GUMBEL_TAU = 0.2


@dataclass(frozen=True)
class CTGANNetworkConfig:
    """Sizes of CTGAN's networks (frozen; handed to the modules)."""

    data_width: int
    cond_width: int
    embedding_dim: int
    generator_dims: tuple[int, ...]
    discriminator_dims: tuple[int, ...]
    pac: int


class _ConditionedLinear(nn.Module):
    """A linear layer over ``[dense input, one-hot conditional vector]``, the one-hot part as a row lookup.

    ``cat([x, one_hot(c)]) @ W^T + b`` equals ``x @ W_x^T + b + W_c[c]``: the product
    with a one-hot vector is a row of the weight. Every layer of CTGAN's generator
    sees the conditional vector (it is concatenated to the noise and carried by the
    residual connections), and on Adult it is 120 of each layer's inputs, so the
    lookup saves about a quarter of the generator's multiply-adds. Initialised as
    ``nn.Linear(dense_in + cond_width, out)``.

    Parameters
    ----------
    dense_in, cond_width, out : int
    """

    def __init__(self, dense_in: int, cond_width: int, out: int):
        super().__init__()
        self.dense = nn.Linear(dense_in, out)
        self.cond = nn.Parameter(torch.empty(cond_width, out))  # (C, out): row c is W[:, dense_in + c]
        bound = 1 / math.sqrt(dense_in + cond_width)
        for tensor in (self.dense.weight, self.dense.bias, self.cond):
            nn.init.uniform_(tensor, -bound, bound)

    def forward(self, x: torch.Tensor, cond_index: torch.Tensor | None) -> torch.Tensor:
        """``(B, dense_in)`` and hot slots ``(B,)`` (or None without a conditional vector) -> ``(B, out)``."""
        out = self.dense(x)
        return out if cond_index is None else out + self.cond.index_select(0, cond_index)


class _Residual(nn.Module):
    """Linear -> BatchNorm -> ReLU, concatenated with its input (CTGAN's generator block).

    The conditional vector is part of the block's input; it is looked up, not
    concatenated (see :class:`_ConditionedLinear`).
    """

    def __init__(self, dense_in: int, cond_width: int, out: int):
        super().__init__()
        self.fc = _ConditionedLinear(dense_in, cond_width, out)
        self.bn = nn.BatchNorm1d(out)

    def forward(self, x: torch.Tensor, cond_index: torch.Tensor | None) -> torch.Tensor:
        return torch.cat([torch.relu(self.bn(self.fc(x, cond_index))), x], dim=1)  # (B, out + dense_in)


class Generator(nn.Module):
    """Noise ``(B, embedding)`` and conditional vectors -> ``(B, data_width)`` raw outputs.

    The network of the paper, whose input is ``cat([noise, cond])``; the conditional
    vector is passed by its hot slot per row (a one-hot vector's product with a weight
    is a row lookup). Outputs are in the span layout's internal order
    (:class:`~tabsynth.models.layout.SpanLayout`).
    """

    def __init__(self, config: CTGANNetworkConfig):
        super().__init__()
        dim, blocks = config.embedding_dim, []
        for hidden in config.generator_dims:
            blocks.append(_Residual(dim, config.cond_width, hidden))
            dim += hidden
        self.blocks = nn.ModuleList(blocks)
        self.out = _ConditionedLinear(dim, config.cond_width, config.data_width)

    def forward(self, noise: torch.Tensor, cond_index: torch.Tensor | None) -> torch.Tensor:
        """``noise`` (B, embedding), ``cond_index`` LongTensor (B,) or None -> (B, data_width)."""
        h = noise
        for block in self.blocks:
            h = block(h, cond_index)
        return self.out(h, cond_index)


# d LeakyReLU(x) / dx applied to an incoming gradient: the op autograd uses.
_leaky_relu_backward = torch.ops.aten.leaky_relu_backward.default


class Discriminator(nn.Module):
    """PacGAN critic: packs of ``pac`` rows ``(B, D)`` -> one score per pack ``(B / pac, 1)``.

    Linear -> LeakyReLU(0.2) -> Dropout(0.5) per hidden layer, as in CTGAN. Dropout
    masks are drawn from ``noise_generator`` (the model's own generator, set before
    training) rather than torch's global RNG; this is also 2.8x faster than
    ``nn.Dropout`` on CPU for these small batches.
    """

    negative_slope = 0.2

    def __init__(self, config: CTGANNetworkConfig, dropout: float = 0.5):
        super().__init__()
        self.pac = config.pac
        self.dropout = dropout
        self.noise_generator: torch.Generator | None = None
        dims = [(config.data_width + config.cond_width) * config.pac, *config.discriminator_dims]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = nn.Linear(dims[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rows ``(B, D)`` -> scores ``(B / pac, 1)``."""
        return self.scores_and_first_preactivation(x)[0]

    def scores_and_first_preactivation(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores ``(B / pac, 1)`` and the packs' first-layer pre-activations ``(B / pac, h_1)``.

        The pre-activations are detached; :func:`~tabsynth.models.losses.gradient_penalty`
        interpolates them (they are linear in the input) instead of running the first
        layer again on interpolated packs. For a critic without hidden layers they are the
        scores.
        """
        packs = x.reshape(-1, x.shape[1] * self.pac)  # (B / pac, pac * D)
        if not self.hidden:
            score = self.out(packs)
            return score, score.detach()
        first = self.hidden[0](packs)
        return self.out(self._hidden_from(first)[0]), first.detach()

    def input_gradient(self, first_preactivation: torch.Tensor) -> torch.Tensor:
        """Gradient of each pack's score with respect to its input, differentiable in the weights.

        The critic is piecewise linear: for a pack with slopes ``s_l`` (LeakyReLU
        derivative times dropout mask and scale, per hidden unit), the score's gradient
        is ``W_1^T (s_1 * W_2^T (s_2 * ... w_out))``. The slopes are constant almost
        everywhere, so this closed form gives the WGAN-GP penalty the same value and
        the same parameter gradients as double backpropagation through the critic,
        with one first-order backward pass and no activations of the pack kept. The
        slopes depend on the input only through the first layer's pre-activation,
        which is what this method takes (dropout masks are drawn here, as a critic
        pass on the packs would).

        Parameters
        ----------
        first_preactivation : Tensor (P, h_1)
            First-layer pre-activations of P packs (any tensor with P rows for a critic
            without hidden layers).

        Returns
        -------
        Tensor (P, pac * D)
        """
        with torch.no_grad():
            _, slopes = self._hidden_from(first_preactivation, keep_slopes=True) if self.hidden else (None, [])
        grad = self.out.weight  # (1, h_L): d score / d h_L
        for layer, slope in zip(reversed(self.hidden), reversed(slopes)):
            grad = (grad * slope) @ layer.weight  # (P, h_l) -> (P, h_{l-1})
        return grad.expand(first_preactivation.shape[0], -1)  # a critic with no hidden layer: the same row per pack

    def activate(self, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """LeakyReLU then dropout on a hidden layer's pre-activations.

        Returns the activations ``pre * slope`` (differentiable in ``pre``) and the
        slopes, the LeakyReLU derivative times dropout mask and scale (constants), both
        shaped like ``pre``. Dropout masks are drawn from ``noise_generator`` when training.
        """
        with torch.no_grad():
            if self.training and self.dropout > 0:
                # 0/1 floats in place, then the inverted-dropout scale.
                scale = torch.rand(pre.shape, generator=self.noise_generator, device=pre.device, dtype=pre.dtype)
                scale.ge_(self.dropout).mul_(1 / (1 - self.dropout))
            else:
                scale = torch.ones_like(pre)
            # scale * LeakyReLU'(pre) in one kernel (torch.where with scalars is ~5x slower on CPU).
            slope = _leaky_relu_backward(scale, pre.detach(), self.negative_slope, False)
        return pre * slope, slope

    def _hidden_from(self, pre: torch.Tensor, keep_slopes: bool = False):
        """From the first layer's pre-activations ``(P, h_1)``: the last hidden activations
        ``(P, h_L)``, and optionally each layer's slopes."""
        slopes = []
        for i, layer in enumerate(self.hidden):
            if i:
                pre = layer(h)
            h, slope = self.activate(pre)
            slopes.append(slope if keep_slopes else None)
        return h, slopes


class CTGAN(BaseSynthesizer):
    """Conditional tabular GAN (Xu et al. 2019).

    Parameters
    ----------
    epochs : int, default 300
        Passes over the training rows (``n // batch_size`` steps each).
    batch_size : int, default 500
        Rows per step; must be a multiple of ``pac``.
    embedding_dim : int, default 128
        Size of the generator's noise input.
    generator_dims, discriminator_dims : tuple of int, default (256, 256)
        Hidden sizes of the residual generator and the critic.
    generator_lr, discriminator_lr : float, default 2e-4
        Adam learning rates (betas 0.5, 0.9).
    generator_decay, discriminator_decay : float, default 1e-6
        Adam weight decay.
    discriminator_steps : int, default 1
        Critic updates per generator update.
    pac : int, default 10
        Rows per PacGAN pack.
    device : {"auto", "cpu", "cuda"}, default "auto"
        Resolved once at ``fit``; "auto" picks CUDA when present.
    random_state : int or None
        Seed of the model's own generators: same seed, same device -> same rows.
    verbose : bool, default True
        Show a progress bar with epoch, losses and time left.

    Attributes
    ----------
    loss_history_ : list of dict
        Per epoch: ``epoch``, ``generator_loss``, ``discriminator_loss``, ``seconds``.
    """

    # 2: the networks read and write rows in the span layout's internal column order.
    model_format = 2

    def __init__(self, *, epochs: int = 300, batch_size: int = 500, embedding_dim: int = 128,
                 generator_dims: tuple[int, ...] = (256, 256), discriminator_dims: tuple[int, ...] = (256, 256),
                 generator_lr: float = 2e-4, discriminator_lr: float = 2e-4, generator_decay: float = 1e-6,
                 discriminator_decay: float = 1e-6, discriminator_steps: int = 1, pac: int = 10,
                 device: str = "auto", random_state: int | None = None, verbose: bool = True):
        self.epochs = epochs
        self.batch_size = batch_size
        self.embedding_dim = embedding_dim
        self.generator_dims = generator_dims
        self.discriminator_dims = discriminator_dims
        self.generator_lr = generator_lr
        self.discriminator_lr = discriminator_lr
        self.generator_decay = generator_decay
        self.discriminator_decay = discriminator_decay
        self.discriminator_steps = discriminator_steps
        self.pac = pac
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self) -> None:
        super()._check_params()
        if not (isinstance(self.pac, int) and self.pac >= 1):
            raise ValueError(f"pac must be a positive integer, got {self.pac!r}.")
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
        self.discriminator_ = Discriminator(self.config_).to(self.device_)

    def _networks(self) -> dict[str, nn.Module]:
        return {"generator": self.generator_, "discriminator": self.discriminator_}

    # ------------------------------------------------------------------ training
    def _fit_matrix(self, data: torch.Tensor) -> None:
        # data and the generator's output are in the span layout's internal order.
        self.cond_sampler_ = ConditionalSampler(self.encoder_.spans_, data, self.device_, self.layout_.position)
        self._data = data
        self._opt_g = adam(self.generator_.parameters(), self.generator_lr, self.generator_decay)
        self._opt_d = adam(self.discriminator_.parameters(), self.discriminator_lr, self.discriminator_decay)
        self.discriminator_.noise_generator = self._train_generator
        self.loss_history_ = []
        steps = max(1, data.shape[0] // self.batch_size)
        progress = tqdm(range(self.epochs), desc="CTGAN", unit="epoch", disable=not self.verbose)
        for epoch in progress:
            start = time.perf_counter()
            loss_g, loss_d = self._train_epoch(steps)
            self.loss_history_.append({"epoch": epoch + 1, "generator_loss": loss_g,
                                       "discriminator_loss": loss_d, "seconds": time.perf_counter() - start})
            progress.set_postfix(G=f"{loss_g:.3f}", D=f"{loss_d:.3f}")
            self._end_of_epoch(epoch + 1)
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

    def _critic_input(self, rows: torch.Tensor, cond_index: torch.Tensor | None) -> torch.Tensor:
        """Rows (B, width) with their conditional vectors appended: (B, width + cond width)."""
        return rows if cond_index is None else torch.cat([rows, self.cond_sampler_.one_hot(cond_index)], dim=1)

    def _discriminator_step(self) -> torch.Tensor:
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
        with torch.no_grad():
            raw, _ = generator_forward(self.generator_, noise, cond_index)  # training mode: batch statistics
            fake = self.layout_.activate(raw, tau=GUMBEL_TAU, generator=gen)
        real_in, fake_in = self._critic_input(real, real_index), self._critic_input(fake, cond_index)  # (B, D + C)
        # Wasserstein loss and gradient penalty, gradients by hand (tabsynth.models.wgan_gp).
        wasserstein, _ = critic_step_gradients(self.discriminator_, fake_in, real_in, gen)
        self._opt_d.step()
        return wasserstein

    def _generator_step(self) -> torch.Tensor:
        noise, column, category, cond_index = self._noise_and_condition(self.batch_size)
        raw, forward_pass = generator_forward(self.generator_, noise, cond_index)  # (B, width), no autograd
        cond_one_hot = conditional = None
        if cond_index is not None:
            sampler = self.cond_sampler_
            cond_one_hot = sampler.one_hot(cond_index)
            conditional = (sampler.span_index, sampler.span_mask, column, category)
        # Activation, frozen critic and conditional loss differentiated by hand
        # (tabsynth.models.generator_loss), then the generator network (generator_backprop).
        loss, raw_grad = generator_loss_gradient(self.discriminator_, self.layout_, raw, GUMBEL_TAU,
                                                 self._train_generator, cond_one_hot, conditional)
        generator_backward(self.generator_, forward_pass, raw_grad)  # overwrites every .grad
        self._opt_g.step()
        return loss

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
        raw = self.generator_(noise, cond_index)
        # Gumbel-softmax then argmax on decode = a draw from each categorical (Gumbel-max).
        return self.layout_.to_matrix(self.layout_.activate(raw, tau=GUMBEL_TAU, generator=generator))

    # ------------------------------------------------------------------ state
    def _state_tensors(self) -> dict[str, torch.Tensor]:
        return {f"cond_sampler.{k}": v for k, v in self.cond_sampler_.state().items()}

    def _load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        prefix = "cond_sampler."
        self.cond_sampler_.load_state({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
