"""Labelled image sets: reading them (``.npz`` or a folder of PNGs), writing them, and turning
them into training tensors.

Two on-disk layouts, both readable by any image pipeline:

* ``.npz`` (numpy): arrays ``x`` (N x H x W uint8 grey, or N x C x H x W) and ``y`` (N int
  labels), or the keras layout ``x_train`` / ``y_train`` / ``x_test`` / ``y_test`` (MNIST's
  ``mnist.npz``), read with ``allow_pickle=False`` so a file cannot run code;
* a folder with one sub-folder per class, named by the integer label (``0/``, ``1/``, ...),
  holding PNG files; :func:`save_images` also writes ``labels.csv`` (``file,label``) beside them.

Pillow reads and writes the PNGs (it is installed with matplotlib).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tabsynth.io import atomic_output

IMAGE_SUFFIXES = (".png",)


@dataclass
class ImageSet:
    """Labelled images.

    Attributes
    ----------
    x : numpy.ndarray, uint8, shape (N, C, H, W)
        Pixel levels 0..255; C is 1 (grey) or 3 (RGB).
    y : numpy.ndarray, int64, shape (N,)
        Class labels, 0..K-1.
    """

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x)
        self.y = np.asarray(self.y)
        if self.x.dtype != np.uint8 or self.x.ndim != 4:
            raise ValueError(f"ImageSet.x must be a uint8 array of shape (N, C, H, W), got {self.x.dtype} "
                             f"{self.x.shape}.")
        if self.y.ndim != 1 or len(self.y) != len(self.x):
            raise ValueError(f"ImageSet.y must hold one label per image: {len(self.x)} images, labels of shape "
                             f"{self.y.shape}.")
        if not np.issubdtype(self.y.dtype, np.integer) or (len(self.y) and self.y.min() < 0):
            raise ValueError("ImageSet.y must hold non-negative integer labels.")
        self.y = self.y.astype(np.int64)

    def __len__(self) -> int:
        return len(self.x)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W)."""
        return tuple(self.x.shape[1:])

    @property
    def n_classes(self) -> int:
        """Largest label + 1 (0 for an empty set)."""
        return int(self.y.max()) + 1 if len(self.y) else 0

    def subset(self, indices: np.ndarray) -> "ImageSet":
        """The images at ``indices`` (a copy)."""
        return ImageSet(self.x[indices].copy(), self.y[indices].copy())

    def to_tensors(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)``: x float32 (N, C, H, W) scaled to [-1, 1] (the generators' tanh range), y int64 (N,)."""
        x = torch.as_tensor(self.x, device=device).float().div_(127.5).sub_(1.0)
        return x, torch.as_tensor(self.y, device=device)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Images in [-1, 1] (float, (N, C, H, W)) -> uint8 levels 0..255 (numpy, same shape), rounded."""
    return x.detach().float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


def balanced_subset(images: ImageSet, per_class: int, rng: np.random.Generator) -> ImageSet:
    """``per_class`` images of every class drawn without replacement (fewer where a class has fewer).

    Used for the augmentation-gain experiment (N = 100, 500, 1,000 real labelled images).
    """
    picks = []
    for label in range(images.n_classes):
        members = np.flatnonzero(images.y == label)
        picks.append(rng.choice(members, size=min(per_class, len(members)), replace=False))
    return images.subset(np.sort(np.concatenate(picks)))


# ---------------------------------------------------------------------- reading
def load_images(path: str | os.PathLike, split: str = "train") -> ImageSet:
    """Read labelled images from a ``.npz`` file or a folder of PNGs in class sub-folders.

    Parameters
    ----------
    path : str or path-like
        ``.npz`` with ``x`` / ``y`` or ``x_<split>`` / ``y_<split>`` (keras layout), or a
        folder whose sub-folders are named by integer labels and hold ``.png`` files.
    split : str, default "train"
        Which ``x_<split>`` / ``y_<split>`` pair of a keras-layout ``.npz`` to read
        (ignored for ``x`` / ``y`` files and folders).

    Returns
    -------
    ImageSet
        x uint8 (N, C, H, W) (a grey N x H x W array gets C = 1), y int64 (N,).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not ``.npz`` nor a folder, the arrays are missing or of the wrong
        dtype or shape, a class folder is not named by an integer, an image is not a PNG
        or the images differ in size or colour mode (each message names the file).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Image data '{path}' does not exist.")
    if path.is_dir():
        return _read_folder(path)
    if path.suffix.lower() != ".npz":
        raise ValueError(f"Cannot read images from '{path}': give a .npz file (arrays x, y or x_train, y_train, "
                         "...) or a folder with one sub-folder of PNG files per integer class label.")
    return _read_npz(path, split)


def has_split(path: str | os.PathLike, split: str) -> bool:
    """Whether ``path`` is a keras-layout ``.npz`` holding ``x_<split>`` and ``y_<split>``."""
    path = Path(path)
    if not (path.is_file() and path.suffix.lower() == ".npz"):
        return False
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {f"x_{split}", f"y_{split}"} <= set(archive.files)
    except (OSError, ValueError):
        return False


def _read_npz(path: Path, split: str) -> ImageSet:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"'{path}' is not a readable .npz file: {exc}") from exc
    with archive:
        keys = set(archive.files)
        if {"x", "y"} <= keys:
            names = ("x", "y")
        elif {f"x_{split}", f"y_{split}"} <= keys:
            names = (f"x_{split}", f"y_{split}")
        else:
            raise ValueError(f"'{path}' holds arrays {sorted(keys)}; tabsynth reads 'x' and 'y', or "
                             f"'x_{split}' and 'y_{split}' (split={split!r}).")
        x, y = archive[names[0]], archive[names[1]]
    if x.dtype != np.uint8:
        raise ValueError(f"'{path}': array '{names[0]}' is {x.dtype}; images must be uint8 levels 0..255.")
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"'{path}': array '{names[0]}' has shape {x.shape}; expected N x H x W (grey) or "
                         "N x C x H x W with C = 1 or 3.")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        raise ValueError(f"'{path}': array '{names[1]}' must hold one non-negative integer label per image "
                         f"({len(x)} images), got {y.dtype} {y.shape}.")
    return ImageSet(np.ascontiguousarray(x), y.astype(np.int64))


def _read_folder(path: Path) -> ImageSet:
    from PIL import Image

    images, labels, first = [], [], None
    folders = sorted(p for p in path.iterdir() if p.is_dir())
    if not folders:
        raise ValueError(f"'{path}' has no class sub-folders; put each class's PNG files in a sub-folder named by "
                         "its integer label (0/, 1/, ...).")
    for folder in folders:
        if not folder.name.isdigit():
            raise ValueError(f"Class folder '{folder}' is not named by a non-negative integer label; rename it "
                             "(0/, 1/, ...).")
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                raise ValueError(f"'{file}' is not a .png image; a class folder may hold only PNG files.")
            with Image.open(file) as image:
                mode = image.mode
                if mode not in ("L", "RGB"):
                    image = image.convert("RGB" if mode in ("RGBA", "P", "CMYK") else "L")
                array = np.asarray(image, dtype=np.uint8)
            array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
            if first is None:
                first = (file, array.shape)
            elif array.shape != first[1]:
                raise ValueError(f"'{file}' is {array.shape} (C, H, W) but '{first[0]}' is {first[1]}; all images "
                                 "must share one size and colour mode.")
            images.append(array)
            labels.append(int(folder.name))
    if not images:
        raise ValueError(f"'{path}' holds no PNG images in its class sub-folders.")
    return ImageSet(np.stack(images), np.asarray(labels, dtype=np.int64))


# ---------------------------------------------------------------------- writing
def save_images(images: ImageSet, path: str | os.PathLike) -> Path:
    """Write labelled images as ``.npz`` or as a folder of PNGs in class sub-folders.

    ``path`` ending in ``.npz``: arrays ``x`` (N x H x W uint8 for grey, N x C x H x W for
    colour) and ``y`` (N int64), written atomically (a temporary file renamed into place).
    Any other ``path`` is a folder: ``<label>/<index>.png`` per image plus ``labels.csv``
    (``file,label``), written to a hidden staging folder beside it and renamed into place
    once complete.

    Returns
    -------
    Path
        What was written.

    Raises
    ------
    FileExistsError
        If the folder ``path`` already exists and is not empty (tabsynth does not replace or
        merge into a folder it cannot tell it wrote).
    """
    path = Path(path)
    if path.suffix.lower() == ".npz":
        x = images.x[:, 0] if images.x.shape[1] == 1 else images.x
        with atomic_output(path) as tmp_name:
            with open(tmp_name, "wb") as handle:
                np.savez_compressed(handle, x=x, y=images.y.astype(np.int64))
        return path
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f"'{path}' exists and is not an empty folder; choose a new folder for the PNG export "
                              "(or a name ending in .npz).")
    staging = path.with_name(f".{path.name}.tabsynth-new")
    if staging.exists():
        shutil.rmtree(staging) if _only_exported_files(staging) else _refuse_staging(staging)
    staging.mkdir(parents=True)
    _write_png_folder(images, staging)
    if path.exists():
        path.rmdir()  # empty (checked above)
    os.replace(staging, path)
    return path


def _write_png_folder(images: ImageSet, folder: Path) -> None:
    from PIL import Image

    width = max(6, len(str(len(images))))
    rows = []
    for index, (array, label) in enumerate(zip(images.x, images.y)):
        name = f"{int(label)}/{index:0{width}d}.png"
        (folder / str(int(label))).mkdir(exist_ok=True)
        picture = Image.fromarray(array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0))
        picture.save(folder / name)
        rows.append((name, int(label)))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("file", "label"))
    writer.writerows(rows)
    (folder / "labels.csv").write_text(buffer.getvalue())


def _only_exported_files(folder: Path) -> bool:
    """Whether ``folder`` holds nothing but what :func:`_write_png_folder` writes (an interrupted export)."""
    for entry in folder.rglob("*"):
        relative = entry.relative_to(folder)
        if entry.is_symlink():
            return False
        if entry.is_dir() and not (len(relative.parts) == 1 and entry.name.isdigit()):
            return False
        if entry.is_file() and not (relative.as_posix() == "labels.csv" or (
                len(relative.parts) == 2 and relative.parts[0].isdigit() and entry.suffix == ".png")):
            return False
    return True


def _refuse_staging(staging: Path) -> None:
    raise FileExistsError(f"'{staging}' is in the way of the export and holds files tabsynth did not write; "
                          "move or delete it yourself.")
