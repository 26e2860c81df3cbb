"""The class-conditional convolutional VAE."""

from tabsynth.images.vae.model import ConvVAE

__all__ = ["ConvVAE"]
