"""Classic image augmentation as a seeded tensor pipeline: rotation, scaling, translation
(pad-and-crop), elastic deformation and Gaussian noise.

The geometry is kornia's (``warp_affine``, ``elastic_transform2d``: pure torch, on the
images' device); the random parameters are drawn here from the pipeline's own
``torch.Generator``, so the same seed gives the same augmented batch and the caller's
global RNG is never touched.

References: Simard, Steinkraus & Platt (2003), "Best practices for convolutional neural
networks applied to visual document analysis" (elastic distortions on MNIST, alpha = 34 and
sigma = 4 pixels as the strong setting); the affine ranges follow common MNIST practice.
"""

from __future__ import annotations

import math
import secrets

import torch
from kornia.geometry.transform import elastic_transform2d, get_rotation_matrix2d, warp_affine


class Augmenter:
    """Random rotation, scaling, translation, elastic deformation and Gaussian noise.

    Each image gets its own draw of every parameter. Order: one affine warp (rotation,
    scaling and translation composed, so the image is resampled once), then the elastic
    deformation (with probability ``elastic_p``), then additive noise; the result is clipped
    to the input's range.

    Parameters
    ----------
    rotation : float, default 12.0
        Largest rotation in degrees (uniform in [-rotation, rotation]).
    scale : (float, float), default (0.9, 1.1)
        Range of the isotropic scale factor (uniform).
    translate : float, default 0.1
        Largest shift as a share of the width / height (uniform per axis): the
        pad-and-random-crop of the literature, with zero padding.
    elastic_alpha : float, default 34.0
        Strength of the elastic deformation in pixels (Simard et al.'s alpha); 0 turns it off.
    elastic_sigma : float, default 4.0
        Smoothness of the displacement field in pixels (Gaussian sigma).
    elastic_p : float, default 0.5
        Probability that an image is deformed elastically.
    noise_std : float, default 0.05
        Standard deviation of the additive Gaussian noise, as a share of the value range
        (0.05 of [-1, 1] is 0.1); 0 turns it off.
    value_range : (float, float), default (-1.0, 1.0)
        Range of the pixel values (background = the low end, used for padding).
    random_state : int or None, default None
        Seed of the pipeline's generator; None draws one from the operating system.

    Examples
    --------
    >>> augment = Augmenter(random_state=0)
    >>> batch = torch.zeros(8, 1, 28, 28) - 1
    >>> augment(batch).shape
    torch.Size([8, 1, 28, 28])
    """

    def __init__(self, *, rotation: float = 12.0, scale: tuple[float, float] = (0.9, 1.1), translate: float = 0.1,
                 elastic_alpha: float = 34.0, elastic_sigma: float = 4.0, elastic_p: float = 0.5,
                 noise_std: float = 0.05, value_range: tuple[float, float] = (-1.0, 1.0),
                 random_state: int | None = None):
        self.rotation = rotation
        self.scale = scale
        self.translate = translate
        self.elastic_alpha = elastic_alpha
        self.elastic_sigma = elastic_sigma
        self.elastic_p = elastic_p
        self.noise_std = noise_std
        self.value_range = value_range
        self.random_state = random_state
        self._check()
        seed = random_state if random_state is not None else secrets.randbits(63)
        self._generators: dict[str, torch.Generator] = {}
        self._seed = int(seed)

    def _check(self) -> None:
        if not (self.rotation >= 0 and self.translate >= 0 and self.elastic_alpha >= 0 and self.elastic_sigma > 0
                and self.noise_std >= 0 and 0 <= self.elastic_p <= 1):
            raise ValueError("Augmenter: rotation, translate, elastic_alpha and noise_std must be >= 0, "
                             "elastic_sigma > 0 and elastic_p in [0, 1].")
        low, high = self.scale
        if not 0 < low <= high:
            raise ValueError(f"Augmenter: scale must be (low, high) with 0 < low <= high, got {self.scale!r}.")
        if not self.value_range[0] < self.value_range[1]:
            raise ValueError(f"Augmenter: value_range must be (low, high) with low < high, got {self.value_range!r}.")

    def _generator(self, device: torch.device) -> torch.Generator:
        """One generator per device type, seeded alike (CUDA draws need a CUDA generator)."""
        key = device.type
        if key not in self._generators:
            self._generators[key] = torch.Generator(device).manual_seed(self._seed)
        return self._generators[key]

    def _uniform(self, low: float, high: float, size: int, device: torch.device) -> torch.Tensor:
        return torch.rand(size, generator=self._generator(device), device=device) * (high - low) + low

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Augment a batch.

        Parameters
        ----------
        images : Tensor, float, shape (B, C, H, W)
            Values in ``value_range``.

        Returns
        -------
        Tensor, same shape, dtype and device
        """
        if images.ndim != 4 or not images.is_floating_point():
            raise ValueError(f"Augmenter expects a float batch of shape (B, C, H, W), got {images.dtype} "
                             f"{tuple(images.shape)}.")
        b, _, h, w = images.shape
        device, low, high = images.device, *self.value_range
        if b == 0:
            return images.clone()
        out = self._affine(images - low) + low  # warp around the background level, so padding is background
        if self.elastic_alpha > 0 and self.elastic_p > 0:
            out = self._elastic(out - low) + low
        if self.noise_std > 0:
            noise = torch.randn(out.shape, generator=self._generator(device), device=device, dtype=out.dtype)
            out = out + noise * (self.noise_std * (high - low))
        return out.clamp_(low, high)

    def _affine(self, shifted: torch.Tensor) -> torch.Tensor:
        b, _, h, w = shifted.shape
        device = shifted.device
        angle = self._uniform(-self.rotation, self.rotation, b, device)  # degrees
        factor = self._uniform(*self.scale, b, device)
        center = torch.tensor([[(w - 1) / 2, (h - 1) / 2]], device=device).expand(b, 2)
        matrix = get_rotation_matrix2d(center, angle, torch.stack([factor, factor], dim=1))  # (B, 2, 3)
        shift = torch.stack([self._uniform(-self.translate, self.translate, b, device) * w,
                             self._uniform(-self.translate, self.translate, b, device) * h], dim=1)  # (B, 2) pixels
        matrix = matrix.clone()
        matrix[:, :, 2] += shift
        return warp_affine(shifted, matrix.to(shifted.dtype), (h, w), padding_mode="zeros", align_corners=True)

    def _elastic(self, shifted: torch.Tensor) -> torch.Tensor:
        b, _, h, w = shifted.shape
        device = shifted.device
        generator = self._generator(device)
        noise = torch.rand((b, 2, h, w), generator=generator, device=device, dtype=shifted.dtype) * 2 - 1
        keep = torch.rand((b, 1, 1, 1), generator=generator, device=device) < self.elastic_p
        noise = noise * keep  # images not drawn for the deformation get a zero field (identity)
        sigma = float(self.elastic_sigma)
        size = 2 * math.ceil(3 * sigma) + 1
        # kornia's displacement is in normalised coordinates ([-1, 1] spans the image): alpha in
        # pixels times 2 / size of the axis.
        alpha = (self.elastic_alpha * 2 / w, self.elastic_alpha * 2 / h)
        return elastic_transform2d(shifted, noise, kernel_size=(size, size), sigma=(sigma, sigma), alpha=alpha,
                                   align_corners=True)
