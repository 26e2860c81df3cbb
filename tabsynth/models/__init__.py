"""Synthesizers over the shared encoding layer: the autoregressive flagship, CTGAN and TVAE."""

from tabsynth.models.autoregressive import Autoregressive
from tabsynth.models.base import BaseSynthesizer, NotFittedError, resolve_device
from tabsynth.models.ctgan import CTGAN
from tabsynth.models.tvae import TVAE

# Names used in saved config files and on the command line (the first is the default).
MODELS: dict[str, type[BaseSynthesizer]] = {"AUTOREGRESSIVE": Autoregressive, "CTGAN": CTGAN, "TVAE": TVAE}

__all__ = ["Autoregressive", "BaseSynthesizer", "CTGAN", "MODELS", "NotFittedError", "TVAE", "resolve_device"]
