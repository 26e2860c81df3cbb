"""The model families by name, and loading a saved model of any of them.

The name (``"autoregressive"``, ``"ctgan"``, ``"tvae"``) is spelled the same here, in a
saved ``config.json`` and on the command line (``--model``).
"""

from __future__ import annotations

import os

from tabsynth.models.autoregressive import Autoregressive
from tabsynth.models.base import BaseSynthesizer, resolve_device
from tabsynth.models.ctgan import CTGAN
from tabsynth.models.tvae import TVAE
from tabsynth.persistence import read_model_directory

# The first is the default model.
MODELS: dict[str, type[BaseSynthesizer]] = {cls.name: cls for cls in (Autoregressive, CTGAN, TVAE)}


def load_model(path: str | os.PathLike, *, device: str = "cpu") -> BaseSynthesizer:
    """Rebuild a model written by :meth:`BaseSynthesizer.save`.

    Parameters
    ----------
    path : str or path-like
        The model directory (an interrupted save there is recovered first).
    device : str, default "cpu"
        Where to put the networks. Loading never picks a device by itself: pass
        ``"cuda"`` (or ``"auto"``) to use a GPU.

    Returns
    -------
    BaseSynthesizer or ImageSynthesizer
        A fitted model (Autoregressive, CTGAN or TVAE; a :class:`~tabsynth.ParentChild`; or an
        image model of :mod:`tabsynth.images`), ready to ``sample``.

    Raises
    ------
    FileNotFoundError
        If the directory or one of its files is missing.
    ValueError
        If a file is truncated or corrupt, or was written by an incompatible
        tabsynth version (the message says which).
    """
    saved = read_model_directory(path)
    # tabsynth 0.1 wrote the class name ("Autoregressive"); names are lower case since.
    name = str(saved.config.get("model", "")).lower()
    from tabsynth.images.registry import IMAGE_MODELS

    if name in IMAGE_MODELS:  # an image generator (tabsynth.images): same directory format
        return IMAGE_MODELS[name]._from_saved(saved, resolve_device(device))
    if name == "parent-child":  # tabsynth.relational: the flagship's parts in one directory
        from tabsynth.relational.model import ParentChild

        return ParentChild._from_saved(saved, resolve_device(device))
    if name not in MODELS:
        raise ValueError(f"'{saved.path}': unknown model {saved.config.get('model')!r}; "
                         f"expected one of {sorted(MODELS)}.")
    return MODELS[name]._from_saved(saved, resolve_device(device))


def save_model(model: BaseSynthesizer, path: str | os.PathLike) -> None:
    """Write fitted ``model`` to directory ``path``; the same as ``model.save(path)``."""
    model.save(path)
