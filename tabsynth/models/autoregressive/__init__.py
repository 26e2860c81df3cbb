"""The any-order autoregressive flagship: its network and the estimator."""

from tabsynth.models.autoregressive.model import Autoregressive

__all__ = ["Autoregressive"]
