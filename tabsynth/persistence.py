"""Saving and loading fitted models as a directory that cannot run code when loaded.

Layout of a saved model directory::

    config.json     tabsynth version, format number, model class, hyperparameters, seed
    metadata.json   the table's Metadata
    encoder.json    the encoder's learned state (TableEncoder: mixture modes, spans; TokenTable: bins)
    model.pt        state_dicts of the networks and a few tensors (RNG state, category shares)

``model.pt`` holds only tensors and is read with ``torch.load(weights_only=True)``;
nothing is pickled, so a tampered file cannot execute code. The directory is written
to a temporary sibling and renamed into place, so an interrupted save leaves the
previous version intact.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from tabsynth._version import __version__
from tabsynth.metadata import Metadata
from tabsynth.models.base import BaseSynthesizer, resolve_device

FILES = ("config.json", "metadata.json", "encoder.json", "model.pt")


def _model_classes() -> dict[str, type[BaseSynthesizer]]:
    from tabsynth.models import MODELS

    return {cls.__name__: cls for cls in MODELS.values()}


def save_model(model: BaseSynthesizer, path: str | os.PathLike) -> Path:
    """Write fitted ``model`` to directory ``path`` (created or atomically replaced).

    Raises
    ------
    NotFittedError
        If the model is not fitted.
    """
    model._check_fitted()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        config = {
            "tabsynth_version": __version__,
            "format": type(model).model_format,
            "model": type(model).__name__,
            "params": _jsonable(model.get_params()),
            "seed": model.seed_,
            "device": str(model.device_),  # where the networks and sampling generator lived
            "epochs_trained": len(getattr(model, "loss_history_", [])),
            "loss_history": getattr(model, "loss_history_", []),
        }
        (staging / "config.json").write_text(json.dumps(config, indent=2))
        model.metadata_.save(staging / "metadata.json")
        (staging / "encoder.json").write_text(json.dumps(model.encoder_.state()))
        tensors = {f"{name}.{k}": v.detach().cpu() for name, net in model._networks().items()
                   for k, v in net.state_dict().items()}
        tensors.update({f"extra.{k}": v.detach().cpu() for k, v in model._state_tensors().items()})
        tensors["rng.sample"] = model._sample_generator.get_state()
        torch.save(tensors, staging / "model.pt")
        _replace_dir(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def _replace_dir(staging: Path, path: Path) -> None:
    if path.exists():
        if not path.is_dir() or (any(path.iterdir()) and not (path / "config.json").exists()):
            raise FileExistsError(f"'{path}' exists and is not a tabsynth model directory; choose another path.")
        backup = path.with_name(f".{path.name}.old")
        shutil.rmtree(backup, ignore_errors=True)
        os.replace(path, backup)
        os.replace(staging, path)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.replace(staging, path)


def _jsonable(params: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def load_model(path: str | os.PathLike, *, device: str = "cpu") -> BaseSynthesizer:
    """Rebuild a model written by :func:`save_model`.

    Parameters
    ----------
    path : str or path-like
        The model directory.
    device : str, default "cpu"
        Where to put the networks. Loading never picks a device by itself: pass
        ``"cuda"`` (or ``"auto"``) to use a GPU.

    Returns
    -------
    BaseSynthesizer
        A fitted model (Autoregressive, CTGAN or TVAE), ready to ``sample``.

    Raises
    ------
    FileNotFoundError
        If the directory or one of its files is missing.
    ValueError
        If a file is truncated or corrupt, or was written by an incompatible
        tabsynth version (the message says which).
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"Model directory '{path}' does not exist.")
    for name in FILES:
        if not (path / name).is_file():
            raise FileNotFoundError(f"Model directory '{path}' lacks '{name}'; it is not a complete tabsynth model.")
    config = _read_json(path / "config.json")
    classes = _model_classes()
    if config.get("model") not in classes:
        raise ValueError(f"'{path}': unknown model class {config.get('model')!r}; expected one of {sorted(classes)}.")
    expected = classes[config["model"]].model_format
    if config.get("format") != expected:
        raise ValueError(
            f"'{path}' was saved by tabsynth {config.get('tabsynth_version', '?')} in model format "
            f"{config.get('format')!r}; this tabsynth ({__version__}) reads {config['model']} format {expected}. "
            "Re-fit the model with this version."
        )
    model = classes[config["model"]](**{k: tuple(v) if isinstance(v, list) else v for k, v in config["params"].items()})
    metadata = Metadata.from_dict(_read_json(path / "metadata.json"), source=f"'{path / 'metadata.json'}'")
    try:
        tensors = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise ValueError(f"'{path / 'model.pt'}' is truncated or not a tabsynth weights file: {exc}") from exc
    _restore(model, metadata, _read_json(path / "encoder.json"), tensors, config, resolve_device(device))
    return model


def _restore(model: BaseSynthesizer, metadata: Metadata, encoder_state: dict, tensors: dict,
             config: dict, device: torch.device) -> None:
    model.seed_ = config["seed"]
    model.loss_history_ = config.get("loss_history", [])
    model.device_ = device
    model.metadata_ = metadata
    model.encoder_ = model.encoder_class.from_state(metadata, encoder_state)
    model._on_encoder_ready()
    model._build_networks()
    try:
        for name, net in model._networks().items():
            prefix = f"{name}."
            net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    except RuntimeError as exc:
        raise ValueError(f"The saved weights do not fit the saved configuration: {exc}") from exc
    model._load_state_tensors({k[len("extra."):]: v.to(device) for k, v in tensors.items() if k.startswith("extra.")})
    model._sample_generator = torch.Generator(device)
    if device.type == torch.device(config["device"]).type:
        model._sample_generator.set_state(tensors["rng.sample"])
    else:
        # A CUDA generator's state does not fit a CPU one: start the stream afresh from the seed.
        model._sample_generator.manual_seed(model.seed_ + 1)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"'{path}' is truncated or not valid JSON: {exc}") from exc
