"""CTGAN's networks: the residual generator and the PacGAN critic (Xu et al. 2019, section 4.4).

Each is one ``nn.Module`` whose forward is the only definition of its function; training
differentiates it with autograd.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class CTGANNetworkConfig:
    """Sizes of CTGAN's networks (frozen; handed to the modules).

    Attributes
    ----------
    data_width : int            encoded row width (the span layout's width)
    cond_width : int            conditional-vector width (0 without categorical columns)
    embedding_dim : int         generator noise size
    generator_dims : tuple      hidden sizes of the residual blocks
    discriminator_dims : tuple  hidden sizes of the critic
    pac : int                   rows per PacGAN pack
    """

    data_width: int
    cond_width: int
    embedding_dim: int
    generator_dims: tuple[int, ...]
    discriminator_dims: tuple[int, ...]
    pac: int


class ConditionedLinear(nn.Module):
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


class Residual(nn.Module):
    """Linear -> BatchNorm -> ReLU, concatenated with its input (CTGAN's generator block).

    The conditional vector is part of the block's input; it is looked up, not
    concatenated (see :class:`ConditionedLinear`).
    """

    def __init__(self, dense_in: int, cond_width: int, out: int):
        super().__init__()
        self.fc = ConditionedLinear(dense_in, cond_width, out)
        self.bn = nn.BatchNorm1d(out)

    def forward(self, x: torch.Tensor, cond_index: torch.Tensor | None) -> torch.Tensor:
        return torch.cat([torch.relu(self.bn(self.fc(x, cond_index))), x], dim=1)  # (B, out + dense_in)


class Generator(nn.Module):
    """Noise ``(B, embedding)`` and conditional vectors -> ``(B, data_width)`` raw outputs.

    The network of the paper, whose input is ``cat([noise, cond])``; the conditional
    vector is passed by its hot slot per row. Outputs are in the span layout's internal
    order (:class:`~tabsynth.models.layout.SpanLayout`); the output activation is the
    layout's (tanh and Gumbel-softmax).
    """

    def __init__(self, config: CTGANNetworkConfig):
        super().__init__()
        dim, blocks = config.embedding_dim, []
        for hidden in config.generator_dims:
            blocks.append(Residual(dim, config.cond_width, hidden))
            dim += hidden
        self.blocks = nn.ModuleList(blocks)
        self.out = ConditionedLinear(dim, config.cond_width, config.data_width)

    def forward(self, noise: torch.Tensor, cond_index: torch.Tensor | None) -> torch.Tensor:
        """``noise`` (B, embedding), ``cond_index`` LongTensor (B,) or None -> (B, data_width)."""
        h = noise
        for block in self.blocks:
            h = block(h, cond_index)  # (B, dim + hidden)
        return self.out(h, cond_index)


class SeededDropout(nn.Module):
    """Inverted dropout whose masks come from a ``torch.Generator`` the model owns.

    ``nn.Dropout`` draws from torch's global RNG; this draws from ``generator`` (set by
    the model before training), so a fit is reproducible without touching the caller's
    global state. Identity in eval mode or with ``p = 0``.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        # 0/1 floats in place, then the inverted-dropout scale: one mask tensor, one product.
        scale = torch.rand(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)
        return x * scale.ge_(self.p).mul_(1 / (1 - self.p))


class Discriminator(nn.Module):
    """PacGAN critic (Lin et al. 2018): rows ``(B, D)`` -> one score per pack of ``pac`` rows ``(B / pac, 1)``.

    Linear -> LeakyReLU(0.2) -> Dropout(0.5) per hidden layer, as in CTGAN. No batch
    normalisation: each pack's score depends on that pack only.
    """

    def __init__(self, config: CTGANNetworkConfig, dropout: float = 0.5):
        super().__init__()
        self.pac = config.pac
        dims = [(config.data_width + config.cond_width) * config.pac, *config.discriminator_dims]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2), SeededDropout(dropout)]
        self.body = nn.Sequential(*layers, nn.Linear(dims[-1], 1))

    def set_noise_generator(self, generator: torch.Generator | None) -> None:
        """Draw every dropout mask from ``generator``."""
        for module in self.body:
            if isinstance(module, SeededDropout):
                module.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rows ``(B, D)`` -> scores ``(B / pac, 1)``."""
        return self.body(x.reshape(-1, x.shape[1] * self.pac))  # packs (B / pac, pac * D)
