"""CTGAN (Xu et al. 2019): networks, losses and the estimator."""

from tabsynth.models.ctgan.model import CTGAN

__all__ = ["CTGAN"]
