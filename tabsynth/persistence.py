"""A saved model is a directory that cannot run code when loaded and is never half-written.

Layout of a model directory::

    config.json     tabsynth's directory marker, tabsynth version, model name and format,
                    hyperparameters, seed, training history
    metadata.json   the table's Metadata
    encoder.json    the encoder's learned state
    model.pt        state_dicts of the networks and a few tensors (RNG state, category shares)
    privacy.json    (differentially private fits only) the privacy ledger: every mechanism
                    and the (epsilon, delta) total

This module knows nothing of the model classes: it writes and reads those files (see
:func:`write_model_directory` and :func:`read_model_directory`); the models assemble
and interpret them (:mod:`tabsynth.models.registry`).

Safety rules, in the order a save applies them:

* **Only tabsynth's own directories are replaced.** An existing path is replaced only when
  its ``config.json`` parses and carries :data:`MARKER` and the directory holds nothing but
  :data:`MODEL_FILES` (and :data:`OPTIONAL_FILES`); anything else is refused with an error naming the path.
* **Never half-written.** The new model is written (each file fsynced, ``config.json``
  last) to a staging sibling ``.NAME.tabsynth-new``; the old directory (a model, or an
  empty folder) is renamed to ``.NAME.tabsynth-old``, the staging one renamed into place,
  then the old one removed. A crash at any moment leaves either a complete model at the
  path, or, between the two renames, only the complete new staging sibling:
  :func:`read_model_directory` (and the next save) then moves it into place. An old
  sibling is never brought back: once the new model is staged it is the one to keep, and a
  model the user deleted stays deleted.
* **Nothing else is deleted.** Clearing a staging or old sibling removes only
  :data:`MODEL_FILES`, :data:`OPTIONAL_FILES` (and temporary files of this module) and then the empty folder; a
  folder holding anything else is left where it is, and a save refuses to start.
* **Permissions are kept.** A replaced directory's mode and its files' modes carry over
  to the new ones (a user who made a model directory private keeps it private).
* **The working directory is never swapped.** Renaming it would pull it from under the
  caller, so a destination that is, or holds, the working directory is refused.
* Symbolic links are resolved first: the directory they point to is the one replaced.

``model.pt`` holds only tensors and is read with ``torch.load(weights_only=True)``, so a
tampered file cannot execute code.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from tabsynth.io import atomic_output

MODEL_FILES = ("config.json", "metadata.json", "encoder.json", "model.pt")
# Files a model directory may hold besides MODEL_FILES (written by some fits only).
OPTIONAL_FILES = ("privacy.json",)
_OWN_FILES = MODEL_FILES + OPTIONAL_FILES
# config.json's key and value that mark a directory as written by tabsynth.
MARKER_KEY = "tabsynth_model_directory"
MARKER = 1
_NEW, _OLD = "tabsynth-new", "tabsynth-old"


@dataclass
class SavedModel:
    """What a model directory holds, parsed.

    Attributes
    ----------
    path : Path
    config : dict                      ``config.json``
    documents : dict[str, dict]        ``metadata.json`` and ``encoder.json`` by file name
    tensors : dict[str, torch.Tensor]  ``model.pt``, on the CPU
    """

    path: Path
    config: dict
    documents: dict[str, dict]
    tensors: dict[str, torch.Tensor]


# ---------------------------------------------------------------------- checks
def _absolute(path: str | os.PathLike) -> Path:
    """``path`` made absolute with ``.``, ``..`` and symbolic links resolved, so it has a name
    and a swap replaces the directory a link points to, not the link."""
    return Path(os.path.realpath(os.fspath(path)))


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(f".{path.name}.{suffix}")


def _read_config(path: Path) -> dict | None:
    """``path/config.json`` as a dict, or None when it is missing or not a JSON object."""
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def is_model_directory(path: str | os.PathLike) -> bool:
    """True when ``path`` is a directory tabsynth wrote: its ``config.json`` carries the marker
    (or is a tabsynth 0.1 config) and it holds only :data:`MODEL_FILES` and :data:`OPTIONAL_FILES`."""
    path = Path(path)
    if not path.is_dir():
        return False
    entries = list(path.iterdir())
    if any(e.name not in _OWN_FILES or not e.is_file() or e.is_symlink() for e in entries):
        return False
    config = _read_config(path)
    if config is None:
        return False
    # tabsynth 0.1 wrote no marker; its configs hold these three keys, the format a number.
    legacy = {"tabsynth_version", "model", "format"} <= set(config) and isinstance(config["format"], int)
    return config.get(MARKER_KEY) == MARKER or legacy


def check_model_destination(path: str | os.PathLike) -> Path:
    """Refuse a destination a model save must not replace; return it made absolute.

    Call it before a long fit, so a bad ``-o`` fails at once rather than after training.
    Finishes a swap an earlier crash interrupted, and clears what a finished one left.

    Raises
    ------
    FileExistsError
        If ``path`` exists and is not a tabsynth model directory nor an empty folder (a
        file, a folder of the user's, a folder with a ``config.json`` of its own), if it is
        or holds the working directory, or if a staging / old sibling in the way holds files
        tabsynth did not write; each message names the path and the fix.
    """
    path = _absolute(path)
    _recover_interrupted_swap(path)
    if path.exists() and not (path.is_dir() and not any(path.iterdir())) and not is_model_directory(path):
        what = "a file" if not path.is_dir() else "a folder that is not a tabsynth model directory"
        raise FileExistsError(
            f"'{path}' is {what}; tabsynth replaces only model directories it wrote. "
            "Choose a new or empty folder for the model (for example runs/my-model)."
        )
    cwd = Path(os.path.realpath(os.getcwd()))
    if cwd == path or path in cwd.parents:
        raise FileExistsError(
            f"'{path}' is the working directory or holds it; a save replaces the model directory as a whole, "
            "which would pull the working directory from under you. Save to a subfolder (for example -o model)."
        )
    for sibling in (_sibling(path, _NEW), _sibling(path, _OLD)):
        _check_clearable(sibling)
    return path


# ---------------------------------------------------------------------- writing
def write_model_directory(path: str | os.PathLike, config: dict, documents: dict[str, dict],
                          tensors: dict[str, torch.Tensor]) -> Path:
    """Write a model directory atomically (see the module docstring).

    Parameters
    ----------
    path : str or path-like
        The model directory; created, or replaced when it is a tabsynth model directory.
    config : dict
        JSON-able; the marker :data:`MARKER_KEY` is added.
    documents : dict
        ``{"metadata.json": {...}, "encoder.json": {...}}`` and optionally
        ``"privacy.json"``: JSON-able objects.
    tensors : dict of str -> Tensor
        Saved with ``torch.save`` as ``model.pt`` (moved to the CPU first).

    Returns
    -------
    Path
        The absolute path written.

    Raises
    ------
    FileExistsError
        As :func:`check_model_destination`, or when a staging sibling left by an earlier
        save holds files tabsynth did not write.
    """
    path = check_model_destination(path)
    names = set(documents) | {"config.json", "model.pt"}
    assert set(MODEL_FILES) <= names <= set(_OWN_FILES), sorted(documents)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging, old = _sibling(path, _NEW), _sibling(path, _OLD)
    _clear(staging)
    _clear(old)
    staging.mkdir()
    for name, payload in documents.items():
        _write_file(staging / name, json.dumps(payload).encode())
    _write_file(staging / "model.pt", _tensor_bytes({k: v.detach().cpu() for k, v in tensors.items()}))
    # config.json last: a staging folder with a config is complete.
    _write_file(staging / "config.json", json.dumps({MARKER_KEY: MARKER, **config}, indent=2).encode())
    if path.exists():
        _keep_modes(path, staging)
    _fsync_directory(staging)
    if path.exists():
        _rename(path, old)
        _rename(staging, path)
        _clear(old)
    else:
        _rename(staging, path)
    _fsync_directory(path.parent)
    return path


def _keep_modes(current: Path, staging: Path) -> None:
    """Give the staged directory and files the permission bits of the ones they replace."""
    os.chmod(staging, current.stat().st_mode & 0o7777)
    for name in _OWN_FILES:
        if (current / name).is_file() and (staging / name).is_file():
            os.chmod(staging / name, (current / name).stat().st_mode & 0o7777)


def _tensor_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    return buffer.getvalue()


def _write_file(target: Path, payload: bytes) -> None:
    """Write ``payload`` through :func:`tabsynth.io.atomic_output` (which fsyncs it)."""
    with atomic_output(target) as tmp_name:
        Path(tmp_name).write_bytes(payload)


def _rename(source: Path, target: Path) -> None:
    """One step of the swap (a module-level function so tests can interrupt it)."""
    os.replace(source, target)


def _fsync_directory(path: Path) -> None:
    """Make renames inside ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _check_clearable(folder: Path) -> None:
    """Raise unless ``folder`` is absent or holds only what a save of tabsynth writes.

    Raises
    ------
    FileExistsError
        Naming the folder: it is in the way of a save and tabsynth will not delete it.
    """
    if not folder.exists() and not folder.is_symlink():
        return
    entries = list(folder.iterdir()) if folder.is_dir() and not folder.is_symlink() else None
    if entries is None or any(e.is_symlink() or not e.is_file() or (e.name not in _OWN_FILES and not _is_temporary(e))
                              for e in entries):
        raise FileExistsError(
            f"'{folder}' is in the way of a model save and holds files tabsynth did not write; "
            "move or delete it yourself."
        )


def _clear(folder: Path) -> None:
    """Remove a staging / old sibling: only tabsynth's files, then the folder (see :func:`_check_clearable`)."""
    _check_clearable(folder)
    if not folder.exists():
        return
    for entry in folder.iterdir():
        entry.unlink()
    folder.rmdir()


def _is_temporary(entry: Path) -> bool:
    """A temporary file of :func:`tabsynth.io.atomic_output` left by a crash inside a save."""
    return entry.is_file() and entry.name.startswith(".") and entry.name.endswith(".tmp") and any(
        entry.name.startswith(f".{name}.") for name in _OWN_FILES)


def _recover_interrupted_swap(path: Path) -> None:
    """Finish a swap that a crash interrupted, and clear what a finished swap left.

    ``path`` missing with a complete staging sibling (a crash between the two renames): the
    new model is moved into place. ``path`` complete with an old sibling of tabsynth's (a
    crash after the swap, before the old copy was removed): the old copy, a hidden copy of
    real values, is removed. Nothing else is touched.
    """
    staging, old = _sibling(path, _NEW), _sibling(path, _OLD)
    if not path.exists():
        if is_model_directory(staging) and all((staging / name).is_file() for name in MODEL_FILES):
            warnings.warn(f"Recovered the model at '{path}' from an interrupted save ('{staging.name}').",
                          RuntimeWarning, stacklevel=3)
            _rename(staging, path)
        return
    if is_model_directory(path) and all((path / name).is_file() for name in MODEL_FILES):
        try:
            _clear(old)
        except FileExistsError:
            pass  # not only tabsynth's: left where it is (a save names it)


# ---------------------------------------------------------------------- reading
def read_model_directory(path: str | os.PathLike) -> SavedModel:
    """Read and check a model directory written by :func:`write_model_directory`.

    An interrupted save is recovered first (see the module docstring).

    Raises
    ------
    FileNotFoundError
        If the directory or one of :data:`MODEL_FILES` is missing.
    ValueError
        If a file is truncated or corrupt, or ``config.json`` is not tabsynth's (the
        message names the file).
    """
    path = _absolute(path)
    _recover_interrupted_swap(path)
    if not path.is_dir():
        raise FileNotFoundError(f"Model directory '{path}' does not exist.")
    for name in MODEL_FILES:
        if not (path / name).is_file():
            raise FileNotFoundError(f"Model directory '{path}' lacks '{name}'; it is not a complete tabsynth model.")
    config = _read_json(path / "config.json")
    if not is_model_directory(path):
        raise ValueError(f"'{path}' is not a tabsynth model directory (its config.json lacks tabsynth's "
                         "marker, or it holds other files).")
    documents = {name: _read_json(path / name) for name in _OWN_FILES if name.endswith(".json")
                 and name != "config.json" and (path / name).is_file()}
    try:
        tensors = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise ValueError(f"'{path / 'model.pt'}' is truncated or not a tabsynth weights file: {exc}") from exc
    if not isinstance(tensors, dict):
        raise ValueError(f"'{path / 'model.pt'}' does not hold a dictionary of tensors.")
    return SavedModel(path=path, config=config, documents=documents, tensors=tensors)


def _read_json(path: Path) -> dict:
    try:
        payload = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"'{path}' is truncated or not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ValueError(f"'{path}' does not hold a JSON object.")
    return payload
