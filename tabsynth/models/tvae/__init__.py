"""TVAE (Xu et al. 2019): networks, ELBO terms and the estimator."""

from tabsynth.models.tvae.model import TVAE

__all__ = ["TVAE"]
