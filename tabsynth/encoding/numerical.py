"""Mode-specific normalization for numerical and datetime columns.

Xu, Skoularidou, Cuesta-Infante, Veeramachaneni (2019), "Modeling Tabular Data
using Conditional GAN", section 4.2: a variational (Dirichlet-process) Gaussian
mixture is fitted to the column; each value is represented by a one-hot of a mode
sampled from its posterior over modes, and a scalar ``(x - mu_k) / (4 sigma_k)`` in
(-1, 1).

Speed: fitting the mixture on every row is the known bottleneck (about 13 s of a
14 s run on Adult in SDV). We fit on a seeded random subsample of at most
``max_fit_rows`` rows, which keeps every mode with more than about 0.5% of the mass,
with a vectorised one-column fit of our own (:mod:`tabsynth.encoding.mixture`), and
assign modes for all rows with a vectorised posterior.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabsynth.encoding.base import ColumnEncoder, restore_dtype
from tabsynth.encoding.mixture import MixtureFit, fit_dirichlet_process_mixture
from tabsynth.encoding.spans import Span
from tabsynth.metadata import ColumnMetadata

# Normalised values live in (-1, 1); 4 sigma covers a mode, as in CTGAN.
_SIGMA_SPAN = 4.0
_CLIP = 0.99
_NS_PER_SECOND = 1_000_000_000


def _fit_mixture(values: np.ndarray, n_components: int, rng: np.random.Generator) -> MixtureFit:
    """The column's Dirichlet-process mixture; a point mass when the column has a single non-null row."""
    if len(values) < 2:
        return MixtureFit(weights=np.ones(1), means=values[:1].astype(float), variances=np.zeros(1),
                          n_iter=0, converged=True)
    return fit_dirichlet_process_mixture(values, n_components, rng)


class NumericalEncoder(ColumnEncoder):
    """Mode-specific normalization of a numerical column (floats or integers).

    Continuous view: spans ``value`` (1, tanh), ``mode`` (k, softmax) and, when the
    column has nulls, ``null`` (2, softmax).

    Parameters
    ----------
    meta : ColumnMetadata
        Supplies bounds (``minimum``/``maximum``), ``decimals`` and ``dtype`` for decoding.
    max_modes : int, default 10
        Components of the Dirichlet-process mixture (CTGAN's default).
    weight_threshold : float, default 0.005
        Modes with less posterior weight are dropped (CTGAN's default).
    max_fit_rows : int, default 5000
        The mixture is fitted on at most this many rows, drawn at random.
    """

    kind = "numerical"

    def __init__(self, meta: ColumnMetadata, *, max_modes: int = 10, weight_threshold: float = 0.005,
                 max_fit_rows: int = 5000):
        super().__init__(meta)
        self.max_modes = max_modes
        self.weight_threshold = weight_threshold
        self.max_fit_rows = max_fit_rows
        self.means_: np.ndarray | None = None
        self.stds_: np.ndarray | None = None
        self.weights_: np.ndarray | None = None

    # -- hooks that datetime columns override ---------------------------------
    def to_numbers(self, series: pd.Series) -> np.ndarray:
        """Column -> float64 array with NaN for nulls."""
        return pd.to_numeric(series, errors="raise").to_numpy(dtype=float, na_value=np.nan)

    def from_numbers(self, numbers: np.ndarray) -> pd.Series:
        """Float64 array (NaN = null) -> column with bounds, decimals and dtype restored."""
        meta = self.meta
        numbers = np.clip(numbers, meta.minimum, meta.maximum)
        if meta.decimals is not None:
            numbers = np.round(numbers, meta.decimals)
        return restore_dtype(pd.Series(numbers, name=meta.name), meta)

    # -- fitting -----------------------------------------------------------------
    def fit(self, series: pd.Series, rng: np.random.Generator) -> "NumericalEncoder":
        values = self.to_numbers(series)
        values = values[~np.isnan(values)]
        if len(values) > self.max_fit_rows:
            values = rng.choice(values, self.max_fit_rows, replace=False)
        n_components = int(min(self.max_modes, max(1, len(np.unique(values)))))
        mixture = _fit_mixture(values, n_components, rng)
        keep = mixture.weights > self.weight_threshold
        if not keep.any():
            keep = mixture.weights == mixture.weights.max()
        self.means_ = mixture.means[keep]
        # A floor on sigma keeps columns with a few repeated values (0, 1, 2 ...) finite.
        spread = max(float(values.std()), 1e-6)
        self.stds_ = np.maximum(np.sqrt(mixture.variances[keep]), 1e-3 * spread)
        self.weights_ = mixture.weights[keep] / mixture.weights[keep].sum()
        self._add_tail_mode(self.to_numbers(series))
        return self

    def _add_tail_mode(self, values: np.ndarray) -> None:
        """Add one wide mode covering every value that no mode covers within 4 sigma.

        The mixture is fitted on a subsample and its window is (-1, 1) x 4 sigma, so the
        extremes of heavy-tailed columns (payments, durations) would otherwise be
        clipped on encoding and never come back. The new mode gets the uncovered share
        of the rows as its weight.
        """
        values = values[~np.isnan(values)]
        uncovered = values[~self._covered(values).any(axis=1)]
        if len(uncovered) == 0:
            return
        low, high = float(uncovered.min()), float(uncovered.max())
        centre = (low + high) / 2
        half_width = max((high - low) / 2, 1e-9 * max(1.0, abs(centre)))
        self.means_ = np.append(self.means_, centre)
        self.stds_ = np.append(self.stds_, half_width / (_SIGMA_SPAN * _CLIP) * 1.000001)
        share = len(uncovered) / len(values)
        self.weights_ = np.append(self.weights_ * (1 - share), share)

    def _covered(self, values: np.ndarray) -> np.ndarray:
        """``(n,)`` -> ``(n, k)`` bool: value lies inside mode k's normalisation window."""
        return np.abs(values[:, None] - self.means_[None, :]) <= _CLIP * _SIGMA_SPAN * self.stds_[None, :]

    @property
    def n_modes(self) -> int:
        return len(self.means_)

    def spans(self) -> list[Span]:
        spans = [Span(self.name, "value", 0, 1), Span(self.name, "mode", 1, self.n_modes)]
        if self.meta.nullable:
            spans.append(Span(self.name, "null", 1 + self.n_modes, 2))
        return spans

    # -- continuous view ---------------------------------------------------------
    def mode_log_posterior(self, values: np.ndarray) -> np.ndarray:
        """Log posterior over modes, ``(n,)`` float64 -> ``(n, k)``, normalised per row."""
        z = (values[:, None] - self.means_[None, :]) / self.stds_[None, :]  # (n, k)
        log_joint = -0.5 * z**2 - np.log(self.stds_)[None, :] + np.log(self.weights_)[None, :]
        return log_joint - np.logaddexp.reduce(log_joint, axis=1, keepdims=True)

    def to_continuous(self, series: pd.Series, rng: np.random.Generator) -> np.ndarray:
        values = self.to_numbers(series)
        missing = np.isnan(values)
        if missing.any() and not self.meta.nullable:
            raise ValueError(f"Column '{self.name}' has nulls but its metadata says it has none.")
        filled = np.where(missing, self.means_[np.argmax(self.weights_)], values)
        # Sample each row's mode from its posterior (inverse CDF, one uniform per row).
        # Only modes whose window holds the value are eligible, so encoding never clips
        # (the tail mode guarantees at least one for the training data).
        posterior = np.exp(self.mode_log_posterior(filled))  # (n, k)
        covered = self._covered(filled)
        posterior = np.where(covered.any(axis=1, keepdims=True), posterior * covered, posterior) + 1e-12
        cdf = np.cumsum(posterior, axis=1)
        u = rng.random(len(filled))[:, None] * cdf[:, -1:]
        modes = np.minimum((cdf < u).sum(axis=1), self.n_modes - 1)  # (n,)
        scaled = (filled - self.means_[modes]) / (_SIGMA_SPAN * self.stds_[modes])
        block = np.zeros((len(values), self.width), dtype=np.float32)
        block[:, 0] = np.clip(scaled, -_CLIP, _CLIP)
        block[np.arange(len(values)), 1 + modes] = 1.0
        if self.meta.nullable:
            block[:, 1 + self.n_modes] = ~missing
            block[:, 2 + self.n_modes] = missing
        return block

    def from_continuous(self, block: np.ndarray, n_rows: int) -> pd.Series:
        scaled = np.clip(block[:, 0].astype(float), -1.0, 1.0)
        modes = np.argmax(block[:, 1 : 1 + self.n_modes], axis=1)
        numbers = scaled * _SIGMA_SPAN * self.stds_[modes] + self.means_[modes]
        if self.meta.nullable:
            is_null = block[:, 2 + self.n_modes] > block[:, 1 + self.n_modes]
            numbers = np.where(is_null, np.nan, numbers)
        return self.from_numbers(numbers)

    # -- state -------------------------------------------------------------------
    def state(self) -> dict:
        return {"means": self.means_.tolist(), "stds": self.stds_.tolist(), "weights": self.weights_.tolist()}

    def load_state(self, state: dict) -> None:
        self.means_ = np.asarray(state["means"], dtype=float)
        self.stds_ = np.asarray(state["stds"], dtype=float)
        self.weights_ = np.asarray(state["weights"], dtype=float)


class DatetimeEncoder(NumericalEncoder):
    """Mode-specific normalization of a datetime column, on seconds since the Unix epoch.

    Decoding rounds to the coarsest unit every observed value is a multiple of
    (day, second or nanosecond), clips to the observed range and restores the dtype;
    datetimes that were strings are written back with their original format.
    """

    kind = "datetime"

    def __init__(self, meta: ColumnMetadata, **kwargs):
        super().__init__(meta, **kwargs)
        self.resolution_seconds_: float | None = None

    def _timestamps(self, series: pd.Series) -> pd.Series:
        if self.meta.datetime_format is not None and not pd.api.types.is_datetime64_any_dtype(series):
            return pd.to_datetime(series, format=self.meta.datetime_format, errors="raise")
        return pd.to_datetime(series, errors="raise")

    def to_numbers(self, series: pd.Series) -> np.ndarray:
        stamps = self._timestamps(series).astype("datetime64[ns]")
        nanos = stamps.to_numpy().astype("int64").astype(float)
        return np.where(stamps.isna().to_numpy(), np.nan, nanos / _NS_PER_SECOND)

    def fit(self, series: pd.Series, rng: np.random.Generator) -> "DatetimeEncoder":
        self.fit_resolution(series)
        return super().fit(series, rng)

    def fit_resolution(self, series: pd.Series) -> None:
        """Learn the unit decoded values are rounded to: a day, a second, or none (0)."""
        seconds = self.to_numbers(series)
        seconds = seconds[~np.isnan(seconds)]
        if np.all(np.mod(seconds, 86_400) == 0):
            self.resolution_seconds_ = 86_400.0
        elif np.all(np.mod(seconds, 1) == 0):
            self.resolution_seconds_ = 1.0
        else:
            self.resolution_seconds_ = 0.0

    def from_numbers(self, numbers: np.ndarray) -> pd.Series:
        meta = self.meta
        low = pd.Timestamp(meta.minimum).value / _NS_PER_SECOND
        high = pd.Timestamp(meta.maximum).value / _NS_PER_SECOND
        numbers = np.clip(numbers, low, high)
        if self.resolution_seconds_:
            numbers = np.round(numbers / self.resolution_seconds_) * self.resolution_seconds_
        stamps = pd.to_datetime(pd.Series(numbers * _NS_PER_SECOND, name=meta.name).round(), unit="ns")
        if meta.datetime_format is not None:
            text = stamps.dt.strftime(meta.datetime_format)
            return restore_dtype(text.where(stamps.notna(), None), meta)
        return restore_dtype(stamps, meta)

    def state(self) -> dict:
        return {**super().state(), "resolution_seconds": self.resolution_seconds_}

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        self.resolution_seconds_ = state["resolution_seconds"]
