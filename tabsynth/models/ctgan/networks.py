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
        return self.out(h, cond_index).float()  # float32 under a bfloat16 autocast too


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


class PackedConditionedLinear(nn.Module):
    """The critic's first layer: ``Linear(pac * (D + C), out)`` over a pack of ``pac`` rows and
    their conditional vectors, the conditional part taken as a row lookup when it is one-hot.

    A pack's input is its rows ``(pac, D)`` and conditional vectors ``(pac, C)``, flattened;
    the layer keeps one weight for the rows ``(out, pac * D)`` and one for the conditional
    vectors ``(pac * C, out)``, initialised as the single ``nn.Linear`` they split. A one-hot
    conditional vector (given by its hot slots) contributes one weight row per row of the
    pack, looked up; a dense one (the gradient penalty's interpolations) is multiplied. Both
    are the same function, and autograd differentiates either.

    Parameters
    ----------
    data_width, cond_width, pac, out : int
    """

    def __init__(self, data_width: int, cond_width: int, pac: int, out: int):
        super().__init__()
        self.pac, self.cond_width = pac, cond_width
        self.data = nn.Linear(pac * data_width, out)
        self.cond = nn.Parameter(torch.empty(pac * cond_width, out))  # row k * C + c: slot c of pack row k
        bound = 1 / math.sqrt(pac * (data_width + cond_width))
        for tensor in (self.data.weight, self.data.bias, self.cond):
            nn.init.uniform_(tensor, -bound, bound)
        self.register_buffer("row_offset", torch.arange(pac) * cond_width, persistent=False)  # (pac,)

    def forward(self, rows: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """Rows ``(B, D)`` and conditional vectors (hot slots ``(B,)`` int64, dense ``(B, C)``
        float, or None) -> pack pre-activations ``(B / pac, out)``."""
        packs = rows.shape[0] // self.pac
        out = self.data(rows.reshape(packs, -1))  # (P, out)
        if cond is None:
            return out
        if cond.dtype == torch.long:
            slots = (cond.reshape(packs, self.pac) + self.row_offset).reshape(-1)  # (B,) rows of self.cond
            return out + self.cond.index_select(0, slots).reshape(packs, self.pac, -1).sum(dim=1)
        return torch.addmm(out, cond.reshape(packs, -1), self.cond)  # (P, pac * C) @ (pac * C, out)


class Discriminator(nn.Module):
    """PacGAN critic (Lin et al. 2018): rows ``(B, D)`` and their conditional vectors -> one score
    per pack of ``pac`` rows ``(B / pac, 1)``.

    Linear -> LeakyReLU(0.2) -> Dropout(0.5) per hidden layer, as in CTGAN; the first layer
    is a :class:`PackedConditionedLinear`. No batch normalisation: each pack's score depends
    on that pack only.
    """

    def __init__(self, config: CTGANNetworkConfig, dropout: float = 0.5):
        super().__init__()
        self.pac = config.pac
        dims = list(config.discriminator_dims)
        self.first = PackedConditionedLinear(config.data_width, config.cond_width, config.pac, dims[0] if dims else 1)
        layers: list[nn.Module] = []
        for a, b in zip(dims, dims[1:] + [1]):
            layers += [nn.LeakyReLU(0.2), SeededDropout(dropout), nn.Linear(a, b)]
        self.body = nn.Sequential(*layers)  # empty for a critic without hidden layers: `first` is linear

    def set_noise_generator(self, generator: torch.Generator | None) -> None:
        """Draw every dropout mask from ``generator``."""
        for module in self.body:
            if isinstance(module, SeededDropout):
                module.generator = generator

    def forward(self, rows: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Rows ``(B, D)`` and conditional vectors (see :class:`PackedConditionedLinear`) -> scores ``(B / pac, 1)``."""
        return self.body(self.first(rows, cond)).float()  # float32 under a bfloat16 autocast too
