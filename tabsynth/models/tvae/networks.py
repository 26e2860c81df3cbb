"""TVAE's networks: an MLP encoder to a Gaussian posterior and an MLP decoder (Xu et al. 2019, section 4.4)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class TVAENetworkConfig:
    """Sizes of TVAE's networks (frozen; handed to the modules).

    Attributes
    ----------
    data_width : int         encoded row width (the span layout's width)
    n_values : int           tanh value slots among them (the layout's first ``n_values`` positions)
    embedding_dim : int      latent size
    compress_dims : tuple    hidden sizes of the encoder
    decompress_dims : tuple  hidden sizes of the decoder
    """

    data_width: int
    n_values: int
    embedding_dim: int
    compress_dims: tuple[int, ...]
    decompress_dims: tuple[int, ...]


def _mlp(dim: int, hidden: tuple[int, ...]) -> tuple[list[nn.Module], int]:
    """Linear -> ReLU layers from ``dim`` through ``hidden``; returns them and the last width."""
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [nn.Linear(dim, size), nn.ReLU()]
        dim = size
    return layers, dim


class Encoder(nn.Module):
    """``(B, data_width)`` rows -> posterior mean and log-variance, each ``(B, embedding)``.

    Rows come in the span layout's internal order (:class:`~tabsynth.models.layout.SpanLayout`).
    The mean and log-variance heads are one layer (one matrix product, not two): outputs
    ``[0, E)`` are the mean, ``[E, 2E)`` the log-variance.
    """

    def __init__(self, config: TVAENetworkConfig):
        super().__init__()
        layers, dim = _mlp(config.data_width, config.compress_dims)
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(dim, 2 * config.embedding_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self.body(x)).chunk(2, dim=1)  # (B, E) each
        return mu, logvar


class Decoder(nn.Module):
    """``(B, embedding)`` latents -> raw outputs of the value slots ``(B, V)`` and of the softmax
    slots ``(B, width - V)``; ``sigma`` ``(V,)`` is each value slot's scale.

    The output layer of the paper's decoder, split by the span layout's internal order
    (value slots first): the same function as one ``Linear(dim, width)`` whose rows are cut in
    two, initialised alike (both have fan-in ``dim``), and the loss reads each part whole
    instead of slicing one output.
    """

    def __init__(self, config: TVAENetworkConfig):
        super().__init__()
        layers, dim = _mlp(config.embedding_dim, config.decompress_dims)
        self.body = nn.Sequential(*layers)
        self.values = nn.Linear(dim, config.n_values)
        self.logits = nn.Linear(dim, config.data_width - config.n_values)
        self.sigma = nn.Parameter(torch.full((config.n_values,), 0.1))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(z)  # (B, dim)
        return self.values(h), self.logits(h)  # (B, V), (B, width - V)
