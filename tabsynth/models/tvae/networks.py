"""TVAE's networks: an MLP encoder to a Gaussian posterior and an MLP decoder (Xu et al. 2019, section 4.4)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tabsynth.models.tvae.losses import negative_elbo


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
        return mu.float(), logvar.float()  # float32 under a bfloat16 autocast too: the loss reads them


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
        # float32 under a bfloat16 autocast too: the likelihood and sampling read them.
        return self.values(h).float(), self.logits(h).float()  # (B, V), (B, width - V)


class VariationalAutoencoder(nn.Module):
    """Encoder and decoder as one module whose forward is the per-batch negative ELBO.

    What DP-SGD wraps: its parameters are both networks' (the decoder's ``sigma`` included,
    which a loss outside the module would read unprivatised), and
    ``forward(x, eps) -> loss ()`` is :func:`~tabsynth.models.tvae.losses.negative_elbo`, so a
    per-example gradient is the gradient of ``forward(x[i:i+1], eps[i:i+1])``.

    Parameters
    ----------
    encoder : Encoder
    decoder : Decoder
    layout : SpanLayout
    loss_factor : float
    """

    def __init__(self, encoder: Encoder, decoder: Decoder, layout, loss_factor: float):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.layout, self.loss_factor = layout, loss_factor

    def forward(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """``x`` (B, width), ``eps`` (B, embedding) -> mean negative ELBO over the rows ()."""
        # The exact per-span shift: no branch on values, as vmap requires.
        return negative_elbo(self.encoder, self.decoder, x, eps, self.layout, self.loss_factor, exact_shift=True)[0]
