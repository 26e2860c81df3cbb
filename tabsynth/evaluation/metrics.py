"""The record every report figure is stored as: value, ideal, direction and a plain-language meaning."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

Direction = Literal["higher", "lower", "target"]


@dataclass
class Metric:
    """One figure of a report.

    Attributes
    ----------
    key : str
        Stable dotted name used in JSON and by ``--fail-under``/``--fail-over``
        (``"fidelity.column_shapes"``, ``"privacy.dcr_share"``).
    label : str
        Short human name.
    value : float or None
        None when it could not be computed (``note`` says why).
    ideal : float
        The value a perfect, private generator would score.
    direction : {"higher", "lower", "target"}
        Whether higher or lower values are better, or closeness to ``ideal``.
    meaning : str
        One plain-language sentence on what the figure says.
    ci : (float, float) or None
        95% confidence interval, where computed: a percentile bootstrap for the privacy
        attacks, a corrected resampled t interval over the cross-validation folds for the
        detection AUC (the section's details say how each was made).
    note : str or None
    """

    key: str
    label: str
    value: float | None
    ideal: float
    direction: Direction
    meaning: str
    ci: tuple[float, float] | None = None
    note: str | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["value"] = None if self.value is None or not math.isfinite(self.value) else float(self.value)
        out["ci"] = None if self.ci is None else [float(self.ci[0]), float(self.ci[1])]
        return out
