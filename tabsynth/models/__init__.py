"""Synthesizers: CTGAN and TVAE over the shared encoding layer."""

from tabsynth.models.base import BaseSynthesizer, NotFittedError, resolve_device
from tabsynth.models.ctgan import CTGAN
from tabsynth.models.tvae import TVAE

# Names used in saved config files and on the command line.
MODELS: dict[str, type[BaseSynthesizer]] = {"CTGAN": CTGAN, "TVAE": TVAE}

__all__ = ["BaseSynthesizer", "CTGAN", "MODELS", "NotFittedError", "TVAE", "resolve_device"]
