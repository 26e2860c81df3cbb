"""Generators and discriminators of the image GANs: fully connected (the baseline) and
convolutional (DCGAN), both class-conditional.

Conditioning:

* generators take the label through a learned embedding concatenated to the noise
  (conditional GAN, Mirza & Osindero 2014);
* the MLP discriminator takes the one-hot label concatenated to the pixels;
* the DCGAN discriminator is a *projection* discriminator (Miyato & Koyama 2018, "cGANs
  with Projection Discriminator"): score = w . h(x) + <embed(y), h(x)>, with h(x) the
  flattened features. Chosen over an auxiliary classifier (AC-GAN, Odena et al. 2017) because
  (1) the loss stays one function of one (image, label) pair, so DP-SGD clips each example
  without a second loss to privatise, and (2) AC-GAN's classification loss on fakes pulls
  the generator towards easily classified, less varied digits (Shu, Bui & Ermon 2017),
  which costs coverage.
"""

from __future__ import annotations

import torch
from torch import nn


def one_hot(labels: torch.Tensor, n_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """``(B,)`` int64 labels -> ``(B, K)`` one-hot rows, by comparison (unlike ``F.one_hot`` it
    reads no values, so ``torch.func.vmap`` can map it over DP-SGD's per-example calls)."""
    return (labels[:, None] == torch.arange(n_classes, device=labels.device)).to(dtype)


def _discriminator_norm(kind: str, channels: int) -> nn.Module:
    """The normalisation after a discriminator convolution: BatchNorm (classic DCGAN),
    GroupNorm (Wu & He 2018; per example, so DP-SGD can clip it) or none."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(min(32, channels // 4), channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"discriminator norm must be 'batch', 'group' or 'none', got {kind!r}.")


class MLPGenerator(nn.Module):
    """Fully connected generator: (noise, label) -> image in [-1, 1].

    ``(B, latent_dim)`` noise and ``(B,)`` int64 labels -> ``(B, C, H, W)`` float.
    """

    def __init__(self, latent_dim: int, n_classes: int, image_shape: tuple[int, int, int],
                 hidden: tuple[int, ...] = (256, 512, 1024)):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.embed = nn.Embedding(n_classes, n_classes)
        layers, width = [], latent_dim + n_classes
        for size in hidden:
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.2)]
            width = size
        layers += [nn.Linear(width, int(torch.tensor(image_shape).prod())), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = torch.cat([noise, self.embed(labels)], dim=1)  # (B, latent + K)
        return self.net(h).view(len(noise), *self.image_shape)  # (B, C, H, W)


class MLPDiscriminator(nn.Module):
    """Fully connected discriminator: (image, label) -> logit ``(B,)`` (real vs fake)."""

    def __init__(self, n_classes: int, image_shape: tuple[int, int, int], hidden: tuple[int, ...] = (512, 256),
                 dropout: float = 0.3):
        super().__init__()
        self.n_classes = n_classes
        layers, width = [], int(torch.tensor(image_shape).prod()) + n_classes
        for size in hidden:
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.2), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        label_rows = one_hot(labels, self.n_classes, images.dtype)  # (B, K)
        return self.net(torch.cat([images.flatten(1), label_rows], dim=1)).squeeze(1)  # (B,)


class DCGenerator(nn.Module):
    """DCGAN generator (Radford, Metz & Chintala 2016) for 28 x 28 (or any multiple of 4) images.

    noise ``(B, latent_dim)`` + label embedding -> linear to ``(B, 2w, H/4, W/4)`` ->
    BatchNorm, ReLU -> transposed conv 4x4 stride 2 to ``(B, w, H/2, W/2)`` -> BatchNorm,
    ReLU -> transposed conv 4x4 stride 2 to ``(B, C, H, W)`` -> tanh. (BatchNorm is allowed
    here: the generator never sees real images, so it is post-processing under DP.)
    """

    def __init__(self, latent_dim: int, n_classes: int, image_shape: tuple[int, int, int], width: int = 64,
                 embed_dim: int = 32):
        super().__init__()
        channels, height, wide = image_shape
        if height % 4 or wide % 4:
            raise ValueError(f"DCGAN needs image sides divisible by 4, got {height} x {wide}.")
        self.start = (2 * width, height // 4, wide // 4)
        self.embed = nn.Embedding(n_classes, embed_dim)
        self.project = nn.Sequential(nn.Linear(latent_dim + embed_dim, 2 * width * height * wide // 16, bias=False),
                                     nn.BatchNorm1d(2 * width * height * wide // 16), nn.ReLU())
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1), nn.Tanh())

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.project(torch.cat([noise, self.embed(labels)], dim=1))  # (B, 2w * H/4 * W/4)
        return self.upsample(h.view(len(noise), *self.start))  # (B, C, H, W)


class ProjectionDiscriminator(nn.Module):
    """DCGAN discriminator with a projection head (Miyato & Koyama 2018).

    ``(B, C, H, W)`` image -> conv 4x4 s2 (w) -> LeakyReLU -> conv 4x4 s2 (2w) -> norm ->
    LeakyReLU -> flattened to ``h`` ``(B, 2w * H/4 * W/4)``; logit = linear(h) + <embed(y), h>
    ``(B,)``. ``norm`` is ``"batch"``, ``"group"`` (needed for DP-SGD) or ``"none"``.

    The head reads the flattened feature map, as Radford et al.'s DCGAN does, not a sum over
    positions (SNGAN's pooling): after two convolutions each feature sees only a 10 x 10
    patch, so a pooled head judges patches and lets a generator with the right strokes in the
    wrong places pass. Measured on MNIST after 4 epochs: TSTR 75.9% pooled, 91.2% flattened
    (recall 0.38 against 0.70).
    """

    def __init__(self, n_classes: int, image_shape: tuple[int, int, int], width: int = 64, norm: str = "batch"):
        super().__init__()
        channels, height, wide = image_shape
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), _discriminator_norm(norm, 2 * width), nn.LeakyReLU(0.2))
        size = 2 * width * (height // 4) * (wide // 4)
        self.score = nn.Linear(size, 1)
        self.embed = nn.Embedding(n_classes, size)
        nn.init.normal_(self.embed.weight, std=0.02)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.features(images).flatten(1)  # (B, 2w * H/4 * W/4)
        return self.score(h).squeeze(1) + (self.embed(labels) * h).sum(dim=1)  # (B,)


def dcgan_init(module: nn.Module) -> None:
    """DCGAN's initialisation: conv weights ~ N(0, 0.02), norm scales ~ N(1, 0.02), biases 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)
