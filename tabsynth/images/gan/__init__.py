"""Class-conditional image GANs: the fully connected baseline and DCGAN."""

from tabsynth.images.gan.model import DCGAN, MLPGAN

__all__ = ["DCGAN", "MLPGAN"]
