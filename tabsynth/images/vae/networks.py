"""Encoder and decoder of the class-conditional convolutional VAE (Kingma & Welling 2014;
conditional form of Sohn, Lee & Yan 2015: both networks see the label)."""

from __future__ import annotations

import torch
from torch import nn

from tabsynth.images.gan.networks import one_hot
from tabsynth.images.vae.losses import negative_elbo


def label_maps(labels: torch.Tensor, n_classes: int, height: int, width: int, dtype: torch.dtype) -> torch.Tensor:
    """``(B,)`` labels -> ``(B, K, height, width)``: the one-hot label broadcast as K constant
    channels, concatenated to a convolution's input so every layer sees the class."""
    return one_hot(labels, n_classes, dtype)[:, :, None, None].expand(-1, -1, height, width)


class ConvEncoder(nn.Module):
    """q(z | x, y): ``(B, C, H, W)`` image and ``(B,)`` labels -> mean and log-variance ``(B, latent_dim)`` each.

    [image, label maps] -> conv 4x4 s2 (w) -> conv 4x4 s2 (2w) -> flatten, concatenated with
    the one-hot label -> linear 256 -> two heads. GroupNorm (per example, so DP-SGD can clip
    it), SiLU.
    """

    def __init__(self, latent_dim: int, n_classes: int, image_shape: tuple[int, int, int], width: int = 32):
        super().__init__()
        channels, height, wide = image_shape
        self.n_classes = n_classes
        self.features = nn.Sequential(
            nn.Conv2d(channels + n_classes, width, 4, stride=2, padding=1), nn.GroupNorm(8, width), nn.SiLU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.GroupNorm(8, 2 * width), nn.SiLU(),
            nn.Flatten())
        flat = 2 * width * (height // 4) * (wide // 4)
        self.hidden = nn.Sequential(nn.Linear(flat + n_classes, 256), nn.SiLU())
        self.mean = nn.Linear(256, latent_dim)
        self.log_var = nn.Linear(256, latent_dim)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, _, height, wide = images.shape
        maps = label_maps(labels, self.n_classes, height, wide, images.dtype)  # (B, K, H, W)
        label_rows = one_hot(labels, self.n_classes, images.dtype)  # (B, K)
        h = self.hidden(torch.cat([self.features(torch.cat([images, maps], dim=1)), label_rows], dim=1))  # (B, 256)
        return self.mean(h), self.log_var(h).clamp(-12.0, 8.0)  # (B, latent) each


class ConvDecoder(nn.Module):
    """p(x | z, y): ``(B, latent_dim)`` codes and ``(B,)`` labels -> pixel logits ``(B, C, H, W)``
    of a Bernoulli likelihood per pixel (grey level / 255 as its probability target).

    (z, one-hot label) -> linear 256 -> linear to (2w, H/4, W/4) -> [., label maps] ->
    transposed conv 4x4 s2 (w) -> [., label maps] -> transposed conv 4x4 s2 (C). The label
    reaches every layer, so reading the class from the label is easier than from z (which
    then keeps the style alone, and prior draws of z give the digit asked for). GroupNorm, SiLU.
    """

    def __init__(self, latent_dim: int, n_classes: int, image_shape: tuple[int, int, int], width: int = 32):
        super().__init__()
        channels, height, wide = image_shape
        self.n_classes = n_classes
        self.start = (2 * width, height // 4, wide // 4)
        self.project = nn.Sequential(nn.Linear(latent_dim + n_classes, 256), nn.SiLU(),
                                     nn.Linear(256, 2 * width * (height // 4) * (wide // 4)), nn.SiLU())
        self.up1 = nn.Sequential(nn.ConvTranspose2d(2 * width + n_classes, width, 4, stride=2, padding=1),
                                 nn.GroupNorm(8, width), nn.SiLU())
        self.up2 = nn.ConvTranspose2d(width + n_classes, channels, 4, stride=2, padding=1)

    def forward(self, codes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        label_rows = one_hot(labels, self.n_classes, codes.dtype)  # (B, K)
        h = self.project(torch.cat([codes, label_rows], dim=1)).view(len(codes), *self.start)  # (B, 2w, H/4, W/4)
        h = self.up1(torch.cat([h, label_maps(labels, self.n_classes, *h.shape[2:], h.dtype)], dim=1))  # (B, w, H/2, W/2)
        return self.up2(torch.cat([h, label_maps(labels, self.n_classes, *h.shape[2:], h.dtype)], dim=1))  # logits


class ConditionalVAE(nn.Module):
    """Encoder and decoder in one module, so one optimiser (and, under DP, one privatised
    module) covers both: ``forward(images, labels, eps)`` returns the per-example negative
    ELBO ``(B,)`` in nats (see :func:`tabsynth.images.vae.losses.negative_elbo`)."""

    def __init__(self, latent_dim: int, n_classes: int, image_shape: tuple[int, int, int], width: int = 32):
        super().__init__()
        self.encoder = ConvEncoder(latent_dim, n_classes, image_shape, width)
        self.decoder = ConvDecoder(latent_dim, n_classes, image_shape, width)

    def forward(self, images: torch.Tensor, labels: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        mean, log_var = self.encoder(images, labels)
        codes = mean + eps * torch.exp(0.5 * log_var)  # reparameterisation, (B, latent)
        return negative_elbo(self.decoder(codes, labels), images, mean, log_var)
