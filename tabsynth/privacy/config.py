"""DPConfig: the privacy target of a differentially private fit, validated."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class DPConfig:
    """Target (epsilon, delta) for a whole fit and the knobs of how it is spent.

    The budget covers *every* path from the training rows to what a fit releases: the
    statistics the encoder needs (category sets, bins, bounds, null shares, the row count)
    and the DP-SGD training of the network. One accountant composes them all (see
    :mod:`tabsynth.privacy.accounting`); the DP-SGD noise multiplier is calibrated so the
    total lands on ``epsilon`` (never above it).

    Neighbouring tables differ by adding or removing one row (one row is one person; a
    table where a person has several rows needs one row per person first).

    Parameters
    ----------
    epsilon : float
        Total privacy loss, > 0.
    delta : float, default 1e-5
        Total failure probability, in (0, 1 / n) for a table of n rows.
    max_grad_norm : float, default 1.0
        Per-example gradient clipping norm of DP-SGD (Abadi et al. 2016).
    preprocessing_share : float, default 0.1
        Share of the budget (in zero-concentrated DP terms, rho = 1 / (2 z^2) for a
        Gaussian of noise multiplier z) spent on the encoder's statistics; the rest goes
        to DP-SGD.
    threshold_delta_share : float, default 0.1
        Share of ``delta`` spent on partition selection (the chance that a value held by
        one row crosses the release threshold); the rest goes to the accountant.
    expected_batch_size : int or None, default None
        Expected rows per DP-SGD step under Poisson sampling; None takes the model's
        ``batch_size``.

    Raises
    ------
    ValueError
        On epsilon <= 0 or not finite, delta outside (0, 1), a non-positive clipping norm,
        shares outside (0, 1), or a bad batch size (each message names the argument).
        ``delta < 1 / n`` is checked when the table is known (:meth:`check_rows`).
    """

    epsilon: float
    delta: float = 1e-5
    max_grad_norm: float = 1.0
    preprocessing_share: float = 0.1
    threshold_delta_share: float = 0.1
    expected_batch_size: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.epsilon, bool) or not isinstance(self.epsilon, (int, float)) or not (
                math.isfinite(self.epsilon) and self.epsilon > 0):
            raise ValueError(f"DPConfig: epsilon must be a finite number > 0, got {self.epsilon!r}.")
        if isinstance(self.delta, bool) or not isinstance(self.delta, (int, float)) or not 0 < self.delta < 1:
            raise ValueError(f"DPConfig: delta must be in (0, 1) (typically 1e-5 or below 1 / rows), "
                             f"got {self.delta!r}.")
        if not (isinstance(self.max_grad_norm, (int, float)) and self.max_grad_norm > 0):
            raise ValueError(f"DPConfig: max_grad_norm must be > 0, got {self.max_grad_norm!r}.")
        for name in ("preprocessing_share", "threshold_delta_share"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value < 1):
                raise ValueError(f"DPConfig: {name} must be in (0, 1), got {value!r}.")
        if self.expected_batch_size is not None and not (
                isinstance(self.expected_batch_size, int) and self.expected_batch_size >= 1):
            raise ValueError(f"DPConfig: expected_batch_size must be a positive integer or None, "
                             f"got {self.expected_batch_size!r}.")

    def check_rows(self, n_rows: int) -> None:
        """Raise ValueError unless ``delta < 1 / n_rows`` (a larger delta allows releasing a row outright).

        The row count is treated as public, as in DP-SGD practice (its sampling rate is
        batch / n); the fit says so when it prints what it took from the data.
        """
        if self.delta >= 1.0 / n_rows:
            raise ValueError(f"DPConfig: delta={self.delta:g} must be below 1 / rows = {1.0 / n_rows:.3g} for this "
                             f"table of {n_rows:,} rows (a delta that large allows publishing a row outright); "
                             "use a smaller delta.")

    @property
    def accountant_delta(self) -> float:
        """The delta left to the accountant once partition selection has its share."""
        return self.delta * (1.0 - self.threshold_delta_share)

    @property
    def threshold_delta(self) -> float:
        """The delta spent by partition selection, over all its histograms together."""
        return self.delta * self.threshold_delta_share

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_value(cls, value: Any) -> "DPConfig | None":
        """None, a DPConfig, or its :meth:`to_dict` form (as saved in ``config.json``) -> DPConfig or None."""
        if value is None or isinstance(value, DPConfig):
            return value
        if isinstance(value, dict):
            return cls(**value)
        raise TypeError(f"dp must be a tabsynth.DPConfig or None, got {type(value).__name__}.")
