"""Synthesizers over the shared encoding layer, one package per family.

``autoregressive/`` (the flagship), ``ctgan/`` and ``tvae/`` each hold their networks,
losses and estimator; beside them sit what they share: the estimator base
(:mod:`~tabsynth.models.base`, and :mod:`~tabsynth.models.continuous` for the continuous
view), the span layout, CTGAN's conditional-vector sampler and the training helpers.
"""

from tabsynth.models.autoregressive import Autoregressive
from tabsynth.models.base import BaseSynthesizer, NotFittedError, resolve_device
from tabsynth.models.ctgan import CTGAN
from tabsynth.models.registry import MODELS, load_model, save_model
from tabsynth.models.tvae import TVAE

__all__ = ["Autoregressive", "BaseSynthesizer", "CTGAN", "MODELS", "NotFittedError", "TVAE", "load_model",
           "resolve_device", "save_model"]
