"""What every tabsynth model shares: the estimator contract, encoding, seeds, devices, sampling.

A model subclass implements only its networks:

* ``_build_networks()`` creates its modules from ``self.encoder_`` (called under a
  seeded, isolated torch RNG so weight initialisation is reproducible);
* ``_fit_matrix(data)`` trains on the encoded ``(n, width)`` tensor;
* ``_sample_matrix(n, condition, generator)`` returns ``(n, width)`` activated rows;
* ``_state_tensors()`` / ``_load_state_tensors()`` give what :func:`tabsynth.save` stores.
"""

from __future__ import annotations

import inspect
import math
import os
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import torch

from tabsynth.encoding import Span, TableEncoder
from tabsynth.metadata import Metadata, as_dataframe
from tabsynth.models.adam import Adam
from tabsynth.models.layout import SpanLayout

# Conditional sampling gives up (with an error, never fewer rows) after drawing this many
# candidate rows per requested row.
MAX_DRAWS_PER_ROW = 200


class NotFittedError(RuntimeError):
    """Raised when a method that needs a fitted model is called before ``fit``."""


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cpu"``/``"cuda"``/``"cuda:1"`` as given.

    Raises
    ------
    ValueError
        If CUDA is asked for but not available, or the name is not a device.
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={device!r} is not a device; use 'auto', 'cpu' or 'cuda'.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available here; use device='cpu' or 'auto'.")
    return resolved


class BaseSynthesizer:
    """Shared estimator logic (scikit-learn contract: keyword-only params, ``fit`` returns self).

    Learned attributes (end in ``_``): ``metadata_``, ``encoder_``, ``device_``, ``seed_``.
    """

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as given to ``__init__`` (JSON-able)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # ------------------------------------------------------------------ fitting
    def fit(self, data: Any, metadata: Metadata | str | os.PathLike | None = None, *,
            checkpoint_dir: str | os.PathLike | None = None, checkpoint_every: int = 25) -> "BaseSynthesizer":
        """Learn the table's distribution.

        Parameters
        ----------
        data : pandas.DataFrame or pyarrow.Table
            The real table, one row per record.
        metadata : Metadata, path to a metadata JSON file, or None
            Column kinds and bounds; inferred from ``data`` when None.
        checkpoint_dir : path or None
            When given, the model is saved there (atomically, see :meth:`save`) every
            ``checkpoint_every`` epochs, so a long run that dies leaves a loadable model of
            its last checkpoint (``config.json`` records ``epochs_trained``).
        checkpoint_every : int, default 25

        Returns
        -------
        self

        Raises
        ------
        ValueError
            On an empty table, columns missing from ``data``, invalid values for the
            metadata, an all-null column, or a bad hyperparameter (messages name them).
        """
        self._check_params()
        if not (isinstance(checkpoint_every, int) and checkpoint_every >= 1):
            raise ValueError(f"checkpoint_every must be a positive integer, got {checkpoint_every!r}.")
        self._checkpoint = (checkpoint_dir, checkpoint_every)
        frame = as_dataframe(data)
        if metadata is None:
            metadata = Metadata.infer(frame)
        elif not isinstance(metadata, Metadata):
            metadata = Metadata.load(metadata)
        frame = metadata.check_frame(frame, what="training table")
        self.seed_ = self._choose_seed()
        self.device_ = resolve_device(self.device)
        self.metadata_ = metadata
        self.encoder_ = self._new_encoder(metadata).fit(frame)
        self._on_encoder_ready()
        data = self._encode(frame)
        self._train_generator = torch.Generator(self.device_).manual_seed(self.seed_)
        with self._isolated_torch_rng(self.seed_):
            self._build_networks()
            self._fit_matrix(data)
        self._sample_generator = torch.Generator(self.device_).manual_seed(self.seed_ + 1)
        del self._checkpoint
        return self

    # The encoding view. CTGAN and TVAE use the continuous view (TableEncoder + span
    # layout); a model with another view (the autoregressive model's tokens) overrides these.
    encoder_class = TableEncoder

    # Version of this class's saved layout (config, encoder state, tensors). Loading refuses
    # another version; bump it when a model saved before would no longer load correctly.
    model_format = 1

    def _new_encoder(self, metadata: Metadata):
        return TableEncoder(metadata, random_state=self.seed_)

    def _on_encoder_ready(self) -> None:
        """Derive what the networks need from ``encoder_`` (after fit or load)."""
        self.layout_ = SpanLayout(self.encoder_.spans_, self.encoder_.width_, self.device_)

    def _encode(self, frame: pd.DataFrame) -> torch.Tensor:
        """Training table -> tensor on the device: here the ``(n, width)`` float32 matrix, its
        columns in the span layout's internal order (the networks' order). Permuted before the
        tensor exists, so training holds one copy of the matrix."""
        matrix = torch.as_tensor(self.encoder_.transform(frame))  # CPU, shares the numpy array's memory
        # A row-major copy (numpy's matrix[:, order] is column-major: batch gathers were 10% slower).
        return self.layout_.to_internal(matrix).to(self.device_)

    def _end_of_epoch(self, epoch: int) -> None:
        """Called by the training loops after each epoch (1-based): writes due checkpoints."""
        directory, every = self._checkpoint
        if directory is None or epoch % every or epoch == self.epochs:
            return
        self._sample_generator = torch.Generator(self.device_).manual_seed(self.seed_ + 1)
        was_training = [m.training for m in self._networks().values()]
        self.save(directory)
        for module, mode in zip(self._networks().values(), was_training):
            module.train(mode)

    def _choose_seed(self) -> int:
        if self.random_state is None:
            return int(np.random.SeedSequence().generate_state(1)[0] % (2**31 - 1))
        return int(self.random_state)

    @contextmanager
    def _isolated_torch_rng(self, seed: int):
        """Seed torch's global RNG (module init, dropout) for this block and restore it after.

        Explicit draws use the model's own ``torch.Generator``; this covers the few
        library calls that take none, without touching the caller's global state.
        """
        devices = [self.device_.index or 0] if self.device_.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def _check_params(self) -> None:
        """Subclasses validate their hyperparameters here (raise ValueError)."""
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}.")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}.")

    def _check_fitted(self) -> None:
        if not hasattr(self, "encoder_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(data) or tabsynth.load(path) first."
            )

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, conditions: dict[str, Any] | None = None, *, batch_size: int = 10_000,
               random_state: int | None = None) -> pd.DataFrame:
        """Generate ``n`` synthetic rows with the real table's schema.

        Parameters
        ----------
        n : int
            Number of rows (> 0).
        conditions : dict or None
            ``{column: value}`` for categorical/boolean columns, e.g.
            ``{"Revenue": True, "VisitorType": "New_Visitor"}``. Every returned row has
            these values. CTGAN feeds one of them (the rarest) to its conditional
            vector; remaining ones (and all for TVAE) are met by a bounded rejection
            step. Never returns fewer rows: raises instead.
        batch_size : int, default 10000
            Rows generated per forward pass.
        random_state : int or None
            Seed for this call only. When None, the model's own sampling generator is
            used and advances, so consecutive calls give different rows, and a model
            saved and loaded continues exactly where it was.

        Returns
        -------
        pandas.DataFrame
            ``n`` rows, columns and dtypes as in the training table.

        Raises
        ------
        NotFittedError
        ValueError
            On a bad ``n``, an unknown column or value in ``conditions`` (the message
            lists the allowed values), or a combination the model produces too rarely.
        """
        generator = self._check_sample_call(n, batch_size, random_state)
        targets = [self.encoder_.condition_slot(col, val) for col, val in (conditions or {}).items()]
        with torch.no_grad(), self._eval_mode():
            matrix = self._sample_until(int(n), targets, int(batch_size), generator, conditions)
        return self.encoder_.inverse_transform(matrix)

    def _check_sample_call(self, n: Any, batch_size: Any, random_state: int | None) -> torch.Generator:
        """Validate ``sample``'s arguments; return the generator this call draws from."""
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer number of rows, got {n!r}.")
        if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        if random_state is not None:
            return torch.Generator(self.device_).manual_seed(int(random_state))
        return self._sample_generator

    def _sample_until(self, n: int, targets: list[tuple[Span, int]], batch_size: int,
                      generator: torch.Generator, conditions: dict | None) -> np.ndarray:
        """Draw batches, keep rows meeting every target, stop at ``n`` rows (or raise)."""
        guide = self._guiding_condition(targets)
        kept, n_kept, n_drawn = [], 0, 0
        budget = n * MAX_DRAWS_PER_ROW + batch_size
        while n_kept < n:
            # Give up when the budget is spent, or early when the acceptance rate seen so far
            # (after enough draws to judge) cannot fill the request within the budget.
            hopeless = n_drawn >= 10 * batch_size and n_kept / n_drawn * (budget - n_drawn) < n - n_kept
            if n_drawn >= budget or hopeless:
                raise ValueError(
                    f"Only {n_kept} of {n} rows met conditions {conditions} after drawing {n_drawn} rows "
                    f"(acceptance {n_kept / n_drawn:.2%}); this model almost never produces that combination. "
                    "Ask for fewer rows or fewer conditions, or train longer."
                )
            rows = self._sample_matrix(min(batch_size, budget - n_drawn), guide, generator)  # (b, width)
            n_drawn += rows.shape[0]
            for span, slot in targets:
                rows = rows[rows[:, span.start : span.stop].argmax(dim=1) == slot]
            kept.append(rows[: n - n_kept].cpu().numpy())
            n_kept += kept[-1].shape[0]
        return np.concatenate(kept, axis=0)

    def _guiding_condition(self, targets: list[tuple[Span, int]]) -> tuple[Span, int] | None:
        """The condition a model can feed its network; models without conditioning return None."""
        return None

    @contextmanager
    def _eval_mode(self):
        """Put every network in eval mode for sampling; restore each one's mode after."""
        modules = list(self._networks().values())
        previous = [m.training for m in modules]
        for m in modules:
            m.eval()
        try:
            yield
        finally:
            for m, was_training in zip(modules, previous):
                m.train(was_training)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to directory ``path`` (see :func:`tabsynth.save_model`)."""
        from tabsynth.persistence import save_model

        save_model(self, path)

    # ------------------------------------------------------------------ subclass hooks
    def _networks(self) -> dict[str, torch.nn.Module]:
        raise NotImplementedError

    def _build_networks(self) -> None:
        raise NotImplementedError

    def _fit_matrix(self, data: torch.Tensor) -> None:
        """Train on ``data`` as returned by ``_encode``."""
        raise NotImplementedError

    def _sample_matrix(self, n: int, condition: tuple[Span, int] | None,
                       generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        """Extra tensors beyond the networks' state_dicts (default: none)."""
        return {}

    def _load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        pass


def steps_per_epoch(n_rows: int, batch_size: int) -> int:
    """Optimiser steps per epoch: one pass over the rows in batches (at least one)."""
    return max(1, math.ceil(n_rows / batch_size))


def adam(parameters, lr: float, weight_decay: float, betas: tuple[float, float] = (0.5, 0.9)) -> Adam:
    """Adam over ``parameters`` (an iterable of tensors on one device) through
    :class:`~tabsynth.models.adam.Adam`: torch's fused kernel where the device has one (one
    call per step instead of one per tensor; ~10% of a CTGAN step on CPU), without
    ``torch.optim.Adam``'s per-step wrapper."""
    return Adam(parameters, lr, betas, weight_decay)
