"""``ConvVAE``: the class-conditional convolutional VAE."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from tabsynth.images.base import ImageSynthesizer
from tabsynth.images.vae.networks import ConditionalVAE
from tabsynth.privacy.config import DPConfig


class ConvVAE(ImageSynthesizer):
    """Class-conditional convolutional VAE (Kingma & Welling 2014; Sohn, Lee & Yan 2015).

    Trains the negative ELBO (:func:`tabsynth.images.vae.losses.negative_elbo`: Bernoulli
    pixel likelihood, Gaussian posterior, standard normal prior) with Adam; samples
    ``z ~ N(0, temperature^2 I)`` and returns the decoder's pixel means
    ``sigmoid(logits)`` (not Bernoulli draws, which would be speckled).

    Parameters
    ----------
    epochs : int, default 30
    batch_size : int, default 128
    lr : float, default 1e-3
    latent_dim : int, default 16
    width : int, default 32
        Channels of the first convolution (the second has 2x).
    temperature : float, default 1.0
        Standard deviation of the prior draws at sampling (below 1 trades variety for sharpness).
    dp : DPConfig or None, default None
        Differentially private training of encoder and decoder together by DP-SGD
        (:mod:`tabsynth.images.private`: Poisson sampling, per-example clipping of the
        negative ELBO's gradient, calibrated noise); the ledger is ``privacy_``.
    device : str, default "auto"
    random_state : int or None
    verbose : bool, default True
    """

    name: ClassVar[str] = "vae"

    def __init__(self, *, epochs: int = 30, batch_size: int = 128, lr: float = 1e-3, latent_dim: int = 16,
                 width: int = 32, temperature: float = 1.0, dp: DPConfig | None = None, device: str = "auto",
                 random_state: int | None = None, verbose: bool = True):
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.latent_dim = latent_dim
        self.width = width
        self.temperature = temperature
        self.dp = dp
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self) -> None:
        super()._check_params()
        if not (isinstance(self.latent_dim, int) and self.latent_dim >= 1):
            raise ValueError(f"latent_dim must be a positive integer, got {self.latent_dim!r}.")
        if not (isinstance(self.width, int) and self.width >= 8 and self.width % 8 == 0):
            raise ValueError(f"width must be a multiple of 8 (GroupNorm of 8 groups), got {self.width!r}.")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}.")
        self.dp = DPConfig.from_value(self.dp)

    def _build_networks(self) -> None:
        self.vae_ = ConditionalVAE(self.latent_dim, self.n_classes_, self.image_shape_, self.width).to(self.device_)
        fused = True if self.device_.type in ("cpu", "cuda") else None
        self._optimizers = {"vae": torch.optim.Adam(self.vae_.parameters(), lr=self.lr, fused=fused)}

    def _networks(self) -> dict[str, nn.Module]:
        return {"vae": self.vae_}

    def _prepare_training(self, n_images: int) -> None:
        self._engine = None
        if self.dp is not None:
            from tabsynth.images.private import private_trainer

            self._engine = private_trainer(self, self.vae_, self._optimizers["vae"], n_images)

    def _train_epoch(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        self.vae_.train()
        if self._engine is not None:
            return self._private_epoch(x, y)
        optimizer, total = self._optimizers["vae"], 0.0
        batches = self._batches(len(x))
        for index in batches:
            eps = torch.randn((len(index), self.latent_dim), generator=self._train_generator, device=self.device_)
            loss = self.vae_(x[index], y[index], eps).mean()  # nats per image
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
        return {"negative_elbo": total / len(batches)}

    def _private_epoch(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """One epoch of DP-SGD: Poisson batches, each image's negative-ELBO gradient clipped, noise added."""
        def example_loss(call, image, label, eps):
            return call(image[None], label[None], eps[None])[0]

        total, steps = 0.0, 0
        for index in self._engine.batches():
            index = index.to(self.device_)
            eps = torch.randn((len(index), self.latent_dim), generator=self._train_generator, device=self.device_)
            total += self._engine.step(example_loss, x[index], y[index], eps)  # display only, never saved
            steps += 1
        return {"negative_elbo": total / max(steps, 1)}

    def _generate(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        codes = torch.randn((len(labels), self.latent_dim), generator=generator, device=self.device_)
        logits = self.vae_.decoder(codes * self.temperature, labels)  # (n, C, H, W)
        return torch.sigmoid(logits) * 2.0 - 1.0
