"""The image model families by name (the spelling of ``config.json`` and ``--model``)."""

from __future__ import annotations

from tabsynth.images.base import ImageSynthesizer
from tabsynth.images.gan import DCGAN, MLPGAN
from tabsynth.images.vae import ConvVAE

IMAGE_MODELS: dict[str, type[ImageSynthesizer]] = {cls.name: cls for cls in (MLPGAN, DCGAN, ConvVAE)}
