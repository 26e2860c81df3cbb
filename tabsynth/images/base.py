"""What every image model shares: the estimator contract, seeds, device, the epoch loop with
checkpoints and resume, class-conditional sampling, saving and loading.

A family subclasses :class:`ImageSynthesizer` and fills in:

* ``_build_networks()``: create the modules (inside a seeded, isolated torch RNG) and set
  ``self._optimizers`` (name -> ``torch.optim`` optimiser);
* ``_networks()``: ``{name: module}`` whose state_dicts are saved (include an EMA copy);
* ``_train_epoch(x, y)``: one pass over the training tensors, returning a dict of mean
  losses (floats) for the history;
* ``_generate(labels, generator)``: images in [-1, 1] ``(n, C, H, W)`` for int64 labels ``(n,)``.

A saved image model is a tabsynth model directory (:mod:`tabsynth.persistence`: atomic,
tensors only, read with ``weights_only=True``): ``config.json`` (hyperparameters, seed,
history, optimiser settings), ``metadata.json`` (the image schema: shape and classes),
``encoder.json`` (the pixel scaling), ``model.pt`` (networks, optimiser moments and the RNG
states, so a checkpoint resumes exactly) and, for DP fits, ``privacy.json``.
"""

from __future__ import annotations

import os
import sys
import time
from typing import ClassVar

import numpy as np
import torch
from tqdm import tqdm

from tabsynth._version import __version__
from tabsynth.images.data import ImageSet, load_images, to_uint8
from tabsynth.models.base import (EstimatorParams, NotFittedError, eval_mode, isolated_torch_rng, json_param,
                                  resolve_device)
from tabsynth.persistence import SavedModel, check_model_destination, read_model_directory, write_model_directory

# encoder.json of every image model: how uint8 levels map to the networks' values.
PIXEL_ENCODING = {"scale": "x / 127.5 - 1", "range": [-1.0, 1.0], "levels": 256}


class ImageSynthesizer(EstimatorParams):
    """Shared logic of the class-conditional image generators.

    Learned attributes: ``image_shape_`` (C, H, W), ``n_classes_``, ``device_``, ``seed_``,
    ``epochs_trained_``, ``loss_history_`` (one dict per epoch: its seconds and, without DP, mean losses), ``privacy_``
    (the ledger of a DP fit, else None).
    """

    name: ClassVar[str] = ""
    model_format: ClassVar[int] = 1

    def _check_params(self) -> None:
        """Validate the shared hyperparameters (subclasses extend it)."""
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"lr must be > 0, got {self.lr!r}.")

    def _check_fitted(self) -> None:
        if not hasattr(self, "image_shape_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit(images) or "
                                 "tabsynth.images.load(path) first.")

    def _say(self, message: str) -> None:
        if getattr(self, "verbose", True):
            print(message, file=sys.stderr)

    # ------------------------------------------------------------------ fitting
    def fit(self, images: ImageSet | str | os.PathLike, *, checkpoint_dir: str | os.PathLike | None = None,
            checkpoint_every: int = 1, resume: str | os.PathLike | None = None) -> "ImageSynthesizer":
        """Train on labelled images.

        Parameters
        ----------
        images : ImageSet or path
            Training images (uint8, (N, C, H, W)) with labels 0..K-1, or a path
            :func:`~tabsynth.images.data.load_images` reads (its ``train`` split).
        checkpoint_dir : path or None
            When given, the model with its optimiser and RNG state is saved there
            (atomically) every ``checkpoint_every`` epochs and at the end.
        checkpoint_every : int, default 1
        resume : path or None
            A checkpoint written by an interrupted fit of the same model on the same images:
            training continues from it until ``epochs`` epochs in total (``epochs`` counts
            the epochs already done). With the same seed on the same device, an interrupted
            and resumed fit gives the weights an uninterrupted one gives.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            On bad hyperparameters, an empty image set, or a checkpoint of another model,
            image shape, class count or image count (the message says which).
        FileExistsError
            If ``checkpoint_dir`` is a file or a folder tabsynth did not write.
        """
        self._check_params()
        if not (isinstance(checkpoint_every, int) and checkpoint_every >= 1):
            raise ValueError(f"checkpoint_every must be a positive integer, got {checkpoint_every!r}.")
        if checkpoint_dir is not None:
            checkpoint_dir = check_model_destination(checkpoint_dir)
        data = images if isinstance(images, ImageSet) else load_images(images)
        if len(data) == 0:
            raise ValueError("The training image set is empty.")
        self.device_ = resolve_device(self.device)
        self.image_shape_, self.n_classes_ = data.image_shape, data.n_classes
        self.n_train_ = len(data)
        self.seed_ = int(self.random_state) if self.random_state is not None else int(
            np.random.SeedSequence().generate_state(1)[0] % (2**31 - 1))
        self.epochs_trained_, self.loss_history_, self.privacy_ = 0, [], None
        self._train_generator = torch.Generator(self.device_).manual_seed(self.seed_)
        with self._isolated_torch_rng(self.seed_):
            self._build_networks()
        x, y = data.to_tensors(self.device_)
        self._prepare_training(len(data))
        if resume is not None:
            self._restore_checkpoint(read_model_directory(resume))
        progress = tqdm(range(self.epochs_trained_ + 1, self.epochs + 1), desc=type(self).__name__, unit="epoch",
                        disable=not getattr(self, "verbose", True))
        private = getattr(self, "dp", None) is not None
        for epoch in progress:
            start = time.perf_counter()
            with self._isolated_torch_rng(self.seed_ + epoch):  # dropout and library draws: seeded per epoch
                losses = self._train_epoch(x, y)
            # Under DP the losses are statistics of raw images outside DP-SGD: shown, never saved.
            record = {} if private else {k: round(float(v), 6) for k, v in losses.items()}
            self.loss_history_.append({"epoch": epoch, "seconds": round(time.perf_counter() - start, 2), **record})
            self.epochs_trained_ = epoch
            progress.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})
            if checkpoint_dir is not None and (epoch % checkpoint_every == 0 or epoch == self.epochs):
                self.save(checkpoint_dir)
        self._sample_generator = torch.Generator(self.device_).manual_seed(self.seed_ + 1)
        return self

    def _prepare_training(self, n_images: int) -> None:
        """Hook before the first epoch (DP models calibrate their noise here)."""

    def _isolated_torch_rng(self, seed: int):
        return isolated_torch_rng(self.device_, seed)

    def _batches(self, n: int) -> list[torch.Tensor]:
        """One epoch of shuffled index batches from the model's generator (the last one may be short,
        never a single image)."""
        order = torch.randperm(n, generator=self._train_generator, device=self.device_)
        batches = list(order.split(self.batch_size))
        if len(batches) > 1 and len(batches[-1]) < 2:  # a batch of one breaks BatchNorm's statistics
            batches[-2:] = [torch.cat(batches[-2:])]
        return batches

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, labels: int | np.ndarray | list[int] | None = None, *, random_state: int | None = None,
               batch_size: int = 1000) -> ImageSet:
        """Generate ``n`` labelled images.

        Parameters
        ----------
        n : int
            Number of images, >= 1.
        labels : int, array of n ints, or None
            The class of each image: one label for all, one per image, or None for a
            class-balanced set (labels 0, 1, ..., K-1 repeated, so each class gets ``n // K``
            or one more).
        random_state : int or None
            Seed for this call; None continues the model's own sampling stream.
        batch_size : int, default 1000
            Images generated at once (memory only; the result does not depend on it).

        Returns
        -------
        ImageSet
            x uint8 (n, C, H, W), y int64 (n,).

        Raises
        ------
        NotFittedError
        ValueError
            If ``n`` is not a positive integer, a label is outside 0..K-1, or ``labels``
            has a length other than ``n``.
        """
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer number of images, got {n!r}.")
        y = self._sample_labels(int(n), labels)
        generator = (torch.Generator(self.device_).manual_seed(int(random_state)) if random_state is not None
                     else self._sample_generator)
        chunks = []
        with self._eval_mode(), torch.no_grad():
            for start in range(0, len(y), batch_size):
                chunks.append(to_uint8(self._generate(y[start:start + batch_size], generator)))
        return ImageSet(np.concatenate(chunks), y.cpu().numpy())

    def _sample_labels(self, n: int, labels) -> torch.Tensor:
        k = self.n_classes_
        if labels is None:
            values = np.arange(n) % k
        else:
            values = np.asarray(labels)
            if values.ndim == 0:
                values = np.full(n, values)
            if values.shape != (n,) or not np.issubdtype(values.dtype, np.integer):
                raise ValueError(f"labels must be one integer or {n} integers, got shape {values.shape} "
                                 f"({values.dtype}).")
            bad = values[(values < 0) | (values >= k)]
            if len(bad):
                raise ValueError(f"label {int(bad[0])} is not a class of this model; labels run 0..{k - 1}.")
        return torch.as_tensor(values, dtype=torch.long, device=self.device_)

    def _eval_mode(self):
        return eval_mode(list(self._networks().values()))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the model (and its training state, so it can resume) to directory ``path``.

        Raises
        ------
        NotFittedError
        FileExistsError
            If ``path`` is a file or a folder tabsynth did not write.
        """
        self._check_fitted()
        optimizers = getattr(self, "_optimizers", {})
        config = {
            "tabsynth_version": __version__, "model": self.name, "model_format": self.model_format,
            "params": {k: json_param(v) for k, v in self.get_params().items()},
            "seed": self.seed_, "device": str(self.device_), "n_train": self.n_train_,
            "epochs_trained": self.epochs_trained_, "loss_history": self.loss_history_,
            "optimizers": {name: opt.state_dict()["param_groups"] for name, opt in optimizers.items()},
            **self._extra_config(),
        }
        documents = {"metadata.json": {"kind": "images", "image_shape": list(self.image_shape_),
                                       "n_classes": self.n_classes_},
                     "encoder.json": PIXEL_ENCODING}
        if self.privacy_ is not None:
            documents["privacy.json"] = self.privacy_
        tensors = {f"{name}.{k}": v for name, net in self._networks().items() for k, v in net.state_dict().items()}
        for name, opt in optimizers.items():
            for index, state in opt.state_dict()["state"].items():
                for key, value in state.items():
                    tensors[f"optim.{name}.{index}.{key}"] = torch.as_tensor(value)
        tensors["rng.train"] = self._train_generator.get_state()
        if hasattr(self, "_sample_generator"):
            tensors["rng.sample"] = self._sample_generator.get_state()
        write_model_directory(path, config, documents, tensors)

    def _extra_config(self) -> dict:
        """Family-specific JSON saved in ``config.json`` (default: none)."""
        return {}

    def _check_resumed_schedule(self, saved: SavedModel) -> None:
        """Raise ValueError if ``saved`` trained under another schedule than this model's
        (default: nothing to check)."""

    def _restore_checkpoint(self, saved: SavedModel) -> None:
        """Load networks, optimiser moments, RNG state and history from ``saved`` to continue training."""
        config = saved.config
        if config.get("model") != self.name:
            raise ValueError(f"'{saved.path}' is a checkpoint of {config.get('model')!r}, not {self.name!r}.")
        meta = saved.documents["metadata.json"]
        if (tuple(meta["image_shape"]), meta["n_classes"], config["n_train"]) != (
                self.image_shape_, self.n_classes_, self.n_train_):
            raise ValueError(f"'{saved.path}' was trained on {config['n_train']} images of shape "
                             f"{tuple(meta['image_shape'])} in {meta['n_classes']} classes; these are "
                             f"{self.n_train_} of {self.image_shape_} in {self.n_classes_}: resume needs the same images.")
        if config["seed"] != self.seed_:
            raise ValueError(f"'{saved.path}' was trained with random_state={config['seed']}; resume with the same seed.")
        self._check_resumed_schedule(saved)
        self._load_networks(saved.tensors)
        for name, opt in self._optimizers.items():
            state: dict[int, dict] = {}
            prefix = f"optim.{name}."
            for key, value in saved.tensors.items():
                if key.startswith(prefix):
                    index, field = key[len(prefix):].split(".", 1)
                    state.setdefault(int(index), {})[field] = value  # torch moves each to its parameter's device
            opt.load_state_dict({"state": state, "param_groups": config["optimizers"][name]})
        if self.device_.type == torch.device(config["device"]).type:
            self._train_generator.set_state(saved.tensors["rng.train"])
        self.epochs_trained_ = int(config["epochs_trained"])
        self.loss_history_ = list(config["loss_history"])
        self.privacy_ = saved.documents.get("privacy.json")
        self._say(f"Resuming {self.name} from '{saved.path}' after epoch {self.epochs_trained_} of {self.epochs}.")

    def _load_networks(self, tensors: dict[str, torch.Tensor]) -> None:
        try:
            for name, net in self._networks().items():
                prefix = f"{name}."
                net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        except RuntimeError as exc:
            raise ValueError(f"The saved weights do not fit the saved configuration: {exc}") from exc

    @classmethod
    def _from_saved(cls, saved: SavedModel, device: torch.device) -> "ImageSynthesizer":
        config = saved.config
        if config.get("model_format") != cls.model_format:
            raise ValueError(f"'{saved.path}' holds {cls.name} format {config.get('model_format')!r}; this tabsynth "
                             f"({__version__}) reads format {cls.model_format}. Re-fit the model with this version.")
        model = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in config["params"].items()})
        meta = saved.documents["metadata.json"]
        model.device_, model.seed_ = device, int(config["seed"])
        model.image_shape_, model.n_classes_ = tuple(meta["image_shape"]), int(meta["n_classes"])
        model.n_train_ = int(config["n_train"])
        model.epochs_trained_, model.loss_history_ = int(config["epochs_trained"]), list(config["loss_history"])
        model.privacy_ = saved.documents.get("privacy.json")
        model._train_generator = torch.Generator(device).manual_seed(model.seed_)
        with model._isolated_torch_rng(model.seed_):
            model._build_networks()
        model._load_networks(saved.tensors)
        model._sample_generator = torch.Generator(device)
        if "rng.sample" in saved.tensors and device.type == torch.device(config["device"]).type:
            model._sample_generator.set_state(saved.tensors["rng.sample"])
        else:
            model._sample_generator.manual_seed(model.seed_ + 1)
        return model

    # ------------------------------------------------------------------ subclass hooks
    def _build_networks(self) -> None:
        raise NotImplementedError

    def _networks(self) -> dict[str, torch.nn.Module]:
        raise NotImplementedError

    def _train_epoch(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        raise NotImplementedError

    def _generate(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError


def load(path: str | os.PathLike, *, device: str = "cpu") -> ImageSynthesizer:
    """Rebuild an image model saved by :meth:`ImageSynthesizer.save` (or a checkpoint).

    Parameters
    ----------
    path : path
        The model directory.
    device : str, default "cpu"
        Where to put the networks (loading never picks a GPU by itself).

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`tabsynth.persistence.read_model_directory`, or when the directory holds a
        table model (load it with ``tabsynth.load``, which also reads image models).
    """
    from tabsynth.images.registry import IMAGE_MODELS

    saved = read_model_directory(path)
    name = saved.config.get("model")
    if name not in IMAGE_MODELS:
        raise ValueError(f"'{saved.path}' holds model {name!r}, not an image model ({', '.join(IMAGE_MODELS)}); "
                         "load table models with tabsynth.load.")
    return IMAGE_MODELS[name]._from_saved(saved, resolve_device(device))
