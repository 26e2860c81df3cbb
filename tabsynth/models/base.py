"""What every tabsynth model shares: the estimator contract, seeds, devices, checkpoints, saving.

A model family subclasses :class:`BaseSynthesizer` (CTGAN and TVAE through
:class:`~tabsynth.models.continuous.ContinuousSynthesizer`) and overrides these hooks:

* ``_new_encoder(metadata)``: the unfitted encoder of its view (continuous or tokens), and
  ``_encoder_from_state(state)``: the same encoder rebuilt from a saved state;
* ``_on_encoder_ready()``: what the networks need from ``encoder_``, after fit or load;
* ``_encode(frame)``: the training table as a tensor on ``device_``;
* ``_build_networks()``: create the modules (under a seeded, isolated torch RNG);
* ``_networks()``: ``{name: module}``, whose state_dicts are saved;
* ``_fit_matrix(data)``: train on ``_encode``'s tensor, calling ``_end_of_epoch`` after each epoch;
* ``_training_precision()``: ``"float32"`` (the default) or ``"bfloat16"`` for the training steps;
* ``sample(n, conditions, ...)``: the public sampler;
* ``_state_tensors()`` / ``_load_state_tensors()``: tensors beyond the networks (optional);
* ``_release_encoder(frame, schema, ledger, rng)``: DP mode only (models with a ``dp``
  parameter): the encoder built from DP-released statistics, each mechanism in ``ledger``.

Class attributes: ``name`` (the one spelling used by the registry, ``config.json`` and the
command line) and ``model_format`` (version of the saved layout).
"""

from __future__ import annotations

import inspect
import os
import sys
import warnings
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from tabsynth._version import __version__
from tabsynth.metadata import Metadata, as_dataframe
from tabsynth.persistence import SavedModel, check_model_destination, write_model_directory
from tabsynth.privacy.units import PrivacyUnits


def json_param(value: Any) -> Any:
    """A hyperparameter as JSON: tuples as lists, a DPConfig as its dict."""
    if isinstance(value, tuple):
        return list(value)
    return value.to_dict() if hasattr(value, "to_dict") else value


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


def numpy_rng(generator: torch.Generator) -> np.random.Generator:
    """A numpy generator seeded from the torch stream ``generator`` (draws made when decoding:
    in-bin values, rows per key), so a seeded ``sample`` call is reproducible end to end."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    return np.random.default_rng(seed)


@contextmanager
def eval_mode(modules: list[torch.nn.Module]):
    """Put ``modules`` in eval mode for sampling; restore each one's mode after."""
    previous = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, was_training in zip(modules, previous):
            m.train(was_training)


@contextmanager
def isolated_torch_rng(device: torch.device, seed: int):
    """Seed torch's global RNG (module init, library draws) for this block and restore it after.

    Explicit draws use a model's own ``torch.Generator``; this covers the few library calls
    that take none, without touching the caller's global state.
    """
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class EstimatorParams:
    """The scikit-learn estimator contract's parameter view: ``get_params`` reads the keyword-only
    ``__init__`` arguments back under their own names; ``repr`` shows them."""

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as given to ``__init__`` (JSON-able)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


class BaseSynthesizer(EstimatorParams):
    """Shared estimator logic (scikit-learn contract: keyword-only params, ``fit`` returns self).

    Learned attributes (end in ``_``): ``metadata_``, ``encoder_``, ``device_``, ``seed_``,
    ``precision_`` (of the training steps), ``loss_history_``, and ``privacy_`` (the
    ``privacy.json`` ledger of a DP fit, else None).
    """

    name: ClassVar[str] = ""
    model_format: ClassVar[int] = 1
    # Formats this class reads (default: model_format alone); a class whose newest format is
    # only written when a fit needs it lists the older one too (see _saved_format).
    readable_formats: ClassVar[tuple[int, ...]] = ()

    # ------------------------------------------------------------------ fitting
    def fit(self, data: Any, metadata: Metadata | str | os.PathLike | None = None, *,
            checkpoint_dir: str | os.PathLike | None = None, checkpoint_every: int = 25,
            privacy_units: Any = None, ledger=None) -> "BaseSynthesizer":
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
            its last checkpoint (``config.json`` records ``epochs_trained``). Checked before
            training starts: it must be new, empty or a tabsynth model directory.
        checkpoint_every : int, default 25
        privacy_units : array-like of shape (n_rows,) or None
            DP mode only (the autoregressive model): which person each row belongs to (any
            hashable values, no nulls). The privacy unit becomes the person with all their
            rows (user-level DP): DP-SGD samples persons by Poisson sampling and bounds each
            person's summed gradient (each of a person's ``k`` rows is clipped to
            ``max_grad_norm / k``); the encoder's statistics come from one random row per
            person. ``delta`` must then be below 1 / persons. None: one row is one person.
        ledger : PrivacyLedger or None
            DP mode: record this fit's mechanisms into an existing ledger (whose ``config``
            is this fit's target, composed with what the ledger already holds), so several
            models fitted on the same people share one budget
            (:class:`~tabsynth.relational.ParentChild`). None: a fresh ledger for ``dp``.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            On an empty table, columns missing from ``data``, invalid values for the
            metadata, an all-null column, or a bad hyperparameter (messages name them).
            ``privacy_units`` without ``dp``, of the wrong length or with nulls.
        FileExistsError
            If ``checkpoint_dir`` is a file or a folder tabsynth did not write.
        """
        self._check_params()
        if not (isinstance(checkpoint_every, int) and checkpoint_every >= 1):
            raise ValueError(f"checkpoint_every must be a positive integer, got {checkpoint_every!r}.")
        if checkpoint_dir is not None:  # absolute from here on: checkpoints land where fit was asked to put them
            checkpoint_dir = check_model_destination(checkpoint_dir)
        frame = as_dataframe(data)
        declared = metadata if metadata is None or isinstance(metadata, Metadata) else Metadata.load(metadata)
        self.seed_ = self._choose_seed()
        self.device_ = resolve_device(self.device)
        self.precision_ = self._training_precision()
        self._units = self._check_privacy_units(privacy_units, len(frame), ledger)
        if getattr(self, "dp", None) is not None:
            self._release_private_encoder(frame, declared, ledger)
        else:
            metadata = Metadata.infer(frame) if declared is None else declared
            frame = metadata.check_frame(frame, what="training table")
            metadata, notes = metadata.completed_from(frame)
            for note in notes:
                warnings.warn(note, UserWarning, stacklevel=2)
            self.metadata_ = metadata
            self.encoder_ = self._new_encoder(metadata).fit(frame)
            self.privacy_ = None
        for name in self.metadata_.key_columns():
            warnings.warn(f"Column '{name}' is a key that several rows share; rows sharing a key are modelled "
                          "independently (synthetic rows get fresh keys with the real number of rows per key).",
                          UserWarning, stacklevel=2)
        self._on_encoder_ready()
        data = self._encode(self.metadata_.check_frame(frame, what="training table"))
        self._train_generator = torch.Generator(self.device_).manual_seed(self.seed_)
        self._checkpoint = (checkpoint_dir, checkpoint_every)
        try:
            with self._isolated_torch_rng(self.seed_):
                self._build_networks()
                self._fit_matrix(data)
        finally:
            del self._checkpoint
        self._sample_generator = torch.Generator(self.device_).manual_seed(self.seed_ + 1)
        return self

    def _check_privacy_units(self, units: Any, n_rows: int, ledger) -> "PrivacyUnits | None":
        """``fit``'s ``privacy_units`` and ``ledger`` checked -> :class:`PrivacyUnits` or None."""
        private = getattr(self, "dp", None) is not None
        if ledger is not None and not private:
            raise ValueError("ledger is a DP option: give the model dp=DPConfig(...) too.")
        if units is None:
            return None
        if not private:
            raise ValueError("privacy_units is a DP option (it says which rows are one person); give the model "
                             "dp=DPConfig(...) too, or drop privacy_units.")
        if not self._supports_privacy_units:
            raise ValueError(f"{type(self).__name__} has no person-level DP; privacy_units works with "
                             "Autoregressive. Reduce the table to one row per person for this model.")
        return PrivacyUnits.from_values(units, n_rows)

    _supports_privacy_units = False

    def _release_private_encoder(self, frame: pd.DataFrame, declared: Metadata | None, ledger=None) -> None:
        """DP mode: the public schema, then the encoder from DP-released statistics only.

        Sets ``metadata_`` and ``encoder_`` (holding public and released values only) and
        ``privacy_ledger_`` (``ledger`` when given, else a fresh one, holding the
        preprocessing mechanisms; the training loop adds DP-SGD). Prints which facts were
        taken from the data without noise. With privacy units, the statistics are released
        from one random row per unit, so each unit adds one row to each histogram.
        """
        from tabsynth.privacy.accounting import PrivacyLedger
        from tabsynth.privacy.mechanisms import secret_seed
        from tabsynth.privacy.schema import public_schema

        units = self._units
        self.dp.check_rows(len(frame) if units is None else units.n_units)
        schema, notes = public_schema(frame, declared)
        self.privacy_ledger_ = ledger if ledger is not None else PrivacyLedger(self.dp)
        rng = np.random.default_rng(secret_seed())  # never from the saved seed (see privacy.mechanisms)
        if units is not None:
            self.privacy_ledger_.neighbouring = "add or remove one person (privacy unit) with all their rows"
            notes.append(f"DP: the privacy unit is the person ({units.n_units:,} persons, {len(frame):,} rows); the "
                         "encoder's statistics come from one random row per person.")
            frame = frame.iloc[units.one_row_each(rng)].reset_index(drop=True)
        self.metadata_, self.encoder_, more = self._release_encoder(frame, schema, self.privacy_ledger_, rng)
        self.privacy_ = None  # set once the training mechanism is in the ledger
        self.privacy_notes_ = notes + more
        for note in self.privacy_notes_:
            self._say(note)

    def _release_encoder(self, frame: pd.DataFrame, schema: Metadata, ledger, rng: np.random.Generator):
        """DP hook: ``(metadata, fitted encoder, notes)`` from mechanisms recorded in ``ledger``."""
        raise NotImplementedError(f"{type(self).__name__} has no differentially private mode yet.")

    def _private_trainer(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer, n_rows: int,
                         columns: list[str], **engine_options):
        """DP mode: fix the DP-SGD steps, calibrate the noise so the ledger meets its target,
        record the mechanism, and return the engine that trains ``module`` (``DPSGD``).

        ``epochs`` expected passes of Poisson batches of ``dp.expected_batch_size`` (else
        ``batch_size``) rows: ``epochs * int(n / batch)`` steps, never more. Sets
        ``noise_multiplier_`` and ``privacy_``, and prints the ledger. The Poisson draws and the
        noise come from secret seeds (the saved seed must not reveal them).
        ``engine_options`` go to :class:`~tabsynth.privacy.dpsgd.DPSGD` (``mode``, ...).
        """
        from tabsynth.privacy.dpsgd import calibrated_dp_sgd

        engine = calibrated_dp_sgd(self.privacy_ledger_, module, optimizer, n_rows=n_rows, batch_size=self.batch_size,
                                   epochs=self.epochs, columns=columns, device=self.device_, **engine_options)
        self.noise_multiplier_ = engine.noise_multiplier
        self.privacy_ = self.privacy_ledger_.to_dict()
        self._say("DP: privacy ledger\n" + self.privacy_ledger_.summary())
        return engine

    def _say(self, message: str) -> None:
        """A line for the person running the fit (standard error), when ``verbose``."""
        if getattr(self, "verbose", True):
            print(message, file=sys.stderr)

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

    def _isolated_torch_rng(self, seed: int):
        """:func:`isolated_torch_rng` on this model's device."""
        return isolated_torch_rng(self.device_, seed)

    def _training_precision(self) -> str:
        """The arithmetic of this fit's training steps (``precision_``); float32 unless a model
        family says otherwise."""
        return "float32"

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
        """Generate ``n`` synthetic rows with the real table's schema (see each model's docstring)."""
        raise NotImplementedError

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

    def _eval_mode(self):
        """Every network in eval mode for sampling (:func:`eval_mode`)."""
        return eval_mode(list(self._networks().values()))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to directory ``path`` (see :mod:`tabsynth.persistence`).

        ``path`` is created, or replaced when it is a tabsynth model directory; the save is
        atomic. A model directory of a model trained without differential privacy holds
        values of the real table (categories, bounds, quantiles): keep it as private as the
        training table.

        Raises
        ------
        NotFittedError
        FileExistsError
            If ``path`` is a file or a folder tabsynth did not write.
        """
        write_model_directory(path, *self._saved_parts())

    def _saved_parts(self) -> tuple[dict, dict[str, dict], dict[str, torch.Tensor]]:
        """``(config, documents, tensors)`` of the model directory :meth:`save` writes (a
        composite model, such as :class:`tabsynth.ParentChild`, nests these)."""
        self._check_fitted()
        config = {
            "tabsynth_version": __version__,
            "model": self.name,
            "model_format": self._saved_format(),
            "params": {k: json_param(v) for k, v in self.get_params().items()},
            "seed": self.seed_,
            "device": str(self.device_),  # where the networks and sampling generator lived
            "training_precision": self.precision_,
            "epochs_trained": len(getattr(self, "loss_history_", [])),
            "loss_history": getattr(self, "loss_history_", []),
        }
        documents = {"metadata.json": self.metadata_.to_dict(), "encoder.json": self.encoder_.state()}
        if getattr(self, "privacy_", None) is not None:
            documents["privacy.json"] = self.privacy_
        tensors = {f"{name}.{k}": v for name, net in self._networks().items() for k, v in net.state_dict().items()}
        tensors.update({f"extra.{k}": v for k, v in self._state_tensors().items()})
        tensors["rng.sample"] = self._sample_generator.get_state()
        return config, documents, tensors

    @classmethod
    def _from_saved(cls, saved: SavedModel, device: torch.device) -> "BaseSynthesizer":
        """Rebuild a fitted model from a read model directory, its networks on ``device``.

        Raises
        ------
        ValueError
            If the files were written in another model format, or the weights do not fit
            the configuration (the message says which).
        """
        config, path = saved.config, saved.path
        readable = cls.readable_formats or (cls.model_format,)
        if config.get("model_format", config.get("format")) not in readable:
            raise ValueError(
                f"'{path}' was saved by tabsynth {config.get('tabsynth_version', '?')} in {cls.name} format "
                f"{config.get('model_format', config.get('format'))!r}; this tabsynth ({__version__}) reads "
                f"format{'s' if len(readable) > 1 else ''} {', '.join(map(str, readable))}. Re-fit the model with "
                "this version."
            )
        model = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in config["params"].items()})
        model.seed_, model.device_ = config["seed"], device
        model.precision_ = config.get("training_precision", "float32")  # files before it trained in float32
        model.loss_history_ = config.get("loss_history", [])
        model.metadata_ = Metadata.from_dict(saved.documents["metadata.json"],
                                             source=f"'{path / 'metadata.json'}'")
        model.encoder_ = model._encoder_from_state(saved.documents["encoder.json"])
        model.privacy_ = saved.documents.get("privacy.json")
        model._on_encoder_ready()
        with model._isolated_torch_rng(model.seed_):  # building draws initial weights: not from the caller's RNG
            model._build_networks()
        tensors = saved.tensors
        try:
            for name, net in model._networks().items():
                prefix = f"{name}."
                net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        except RuntimeError as exc:
            raise ValueError(f"The saved weights do not fit the saved configuration: {exc}") from exc
        extra = {k[len("extra."):]: v.to(device) for k, v in tensors.items() if k.startswith("extra.")}
        model._load_state_tensors(extra)
        model._sample_generator = torch.Generator(device)
        if device.type == torch.device(config["device"]).type:
            model._sample_generator.set_state(tensors["rng.sample"])
        else:
            # A CUDA generator's state does not fit a CPU one: start the stream afresh from the seed.
            model._sample_generator.manual_seed(model.seed_ + 1)
        return model

    # ------------------------------------------------------------------ subclass hooks
    def _saved_format(self) -> int:
        """The format this fitted model is written in (default: ``model_format``)."""
        return self.model_format

    def _new_encoder(self, metadata: Metadata):
        raise NotImplementedError

    def _encoder_from_state(self, state: dict):
        """The fitted encoder saved as ``state`` (for ``self.metadata_``)."""
        raise NotImplementedError

    def _on_encoder_ready(self) -> None:
        pass

    def _encode(self, frame: pd.DataFrame) -> torch.Tensor:
        raise NotImplementedError

    def _networks(self) -> dict[str, torch.nn.Module]:
        raise NotImplementedError

    def _build_networks(self) -> None:
        raise NotImplementedError

    def _fit_matrix(self, data: torch.Tensor) -> None:
        """Train on ``data`` as returned by ``_encode``."""
        raise NotImplementedError

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        """Extra tensors beyond the networks' state_dicts (default: none)."""
        return {}

    def _load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        pass
