"""The tables an evaluation compares, checked once and shared by every section.

:class:`EvaluationTables` validates the real (training), synthetic and optional
holdout tables against one :class:`~tabsynth.metadata.Metadata`, and offers the
few numeric views that fidelity, utility and privacy metrics need:

* :meth:`EvaluationTables.model_features` — a frame for scikit-learn's gradient
  boosting (numbers as float, categories as pandas ``category`` with the real
  table's levels);
* :meth:`EvaluationTables.gower_space` and :meth:`EvaluationTables.gower_codes` — a
  float32 matrix and an int64 matrix in which the L1 distance plus the count of unequal
  codes, divided by the number of columns, is the Gower distance (numbers scaled by
  their real range, each categorical one-hot scaled by 1/2 so a mismatch costs 1, and
  categoricals with more than :data:`GOWER_ONEHOT_MAX_LEVELS` levels as one code each).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabsynth.metadata import Metadata, as_dataframe

# Kinds an evaluation compares; id and constant columns carry no distribution to judge.
EVALUATED_KINDS = ("numerical", "categorical", "datetime")
_NS_PER_SECOND = 1e9
# A categorical column with more real levels than this enters Gower space as one integer
# code per row (compared for equality) instead of a one-hot block of levels + 2 floats: a
# near-unique text column of 26,000 levels would cost 2.7 GB per table as one-hots.
GOWER_ONEHOT_MAX_LEVELS = 64


@dataclass
class EvaluationTables:
    """Real, synthetic and holdout tables aligned to one metadata.

    Build with :meth:`prepare`. Attributes are DataFrames restricted to
    :attr:`columns` (the numerical, categorical and datetime columns), in metadata order.
    """

    metadata: Metadata
    real: pd.DataFrame
    synthetic: pd.DataFrame
    holdout: pd.DataFrame | None
    target: str | None
    columns: list[str]
    _levels: dict[str, list] = field(default_factory=dict, repr=False)
    _wide_lookup: dict[str, dict] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ building
    @classmethod
    def prepare(cls, real: Any, synthetic: Any, holdout: Any = None, *, target: str | None = None,
                metadata: Metadata | None = None) -> "EvaluationTables":
        """Validate and align the tables.

        Parameters
        ----------
        real : DataFrame or Arrow table
            The table the generator was trained on.
        synthetic : DataFrame or Arrow table
            The generated table.
        holdout : DataFrame, Arrow table or None
            Real rows the generator never saw (needed for utility and privacy baselines).
        target : str or None
            Column to predict in the utility section.
        metadata : Metadata or None
            Inferred from ``real`` when None.

        Raises
        ------
        ValueError
            When a table is empty or lacks columns of the metadata, the target is not a
            column, or a column's values do not fit its kind (a numerical column holding
            text, say) — each message names the table and column.
        """
        real = as_dataframe(real)
        metadata = metadata or Metadata.infer(real)
        frames = {"real": real, "synthetic": as_dataframe(synthetic)}
        if holdout is not None:
            frames["holdout"] = as_dataframe(holdout)
        for name, frame in frames.items():
            frames[name] = metadata.check_frame(frame, what=f"{name} table").reset_index(drop=True)
        columns = [c.name for c in metadata if c.kind in EVALUATED_KINDS]
        if not columns:
            raise ValueError("The metadata has no numerical, categorical or datetime column to evaluate.")
        if target is not None and target not in columns:
            raise ValueError(
                f"Target '{target}' is not an evaluated column of the real table; "
                f"choose one of {columns}."
            )
        for name, frame in frames.items():
            frames[name] = _coerce(frame[columns], metadata, name)
        tables = cls(metadata, frames["real"], frames["synthetic"], frames.get("holdout"), target, columns)
        tables._levels = {c: _levels(metadata, c, frames["real"][c]) for c in columns
                          if metadata[c].kind == "categorical"}
        return tables

    # ------------------------------------------------------------------ views
    @property
    def numerical(self) -> list[str]:
        """Numerical and datetime columns (compared as numbers)."""
        return [c for c in self.columns if self.metadata[c].kind in ("numerical", "datetime")]

    @property
    def categorical(self) -> list[str]:
        return [c for c in self.columns if self.metadata[c].kind == "categorical"]

    @property
    def wide_categorical(self) -> list[str]:
        """Categorical columns with more than :data:`GOWER_ONEHOT_MAX_LEVELS` real levels (Gower codes)."""
        return [c for c in self.categorical if len(self._levels[c]) > GOWER_ONEHOT_MAX_LEVELS]

    def levels(self, column: str) -> list:
        """Categories of a categorical column as the real table knows them (metadata order)."""
        return self._levels[column]

    def category_codes(self, frame: pd.DataFrame, column: str) -> np.ndarray:
        """``(n,)`` int64 codes of a categorical column against the real levels.

        Values match by value, not by type text: a ``1.0`` (an integer column turned float
        by nulls) is the level ``1``. Nulls are ``-2``, values the real table never had ``-1``.
        """
        lookup = {_key(v): i for i, v in enumerate(self._levels[column])}
        keys = [_key(v) for v in frame[column].astype(object)]
        return np.fromiter((-2 if k is None else lookup.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))

    def model_features(self, frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
        """Features for scikit-learn trees: floats, and ``category`` dtype with the real levels.

        Nulls and values unseen in the real table become missing (NaN), which the trees handle.
        """
        columns = columns if columns is not None else self.columns
        out = {}
        for column in columns:
            if column in self._levels:
                codes = self.category_codes(frame, column)
                levels = [str(v) for v in self._levels[column]]
                out[column] = pd.Categorical.from_codes(np.where(codes < 0, -1, codes), categories=levels)
            else:
                out[column] = frame[column].astype(float)
        return pd.DataFrame(out, index=frame.index)

    def gower_numeric_mask(self) -> np.ndarray:
        """``(d,)`` bool over :meth:`gower_space` columns: True for number slots, False for one-hot slots."""
        wide = set(self.wide_categorical)
        slots = [np.zeros(len(self._levels[c]) + 2, dtype=bool) if c in self._levels else np.ones(1, dtype=bool)
                 for c in self.columns if c not in wide]
        return np.concatenate(slots) if slots else np.zeros(0, dtype=bool)

    def gower_codes(self, frame: pd.DataFrame) -> np.ndarray:
        """``(n, len(wide_categorical))`` int64 codes of the wide categorical columns, for Gower space.

        Equal values get equal codes in every table (by value, as :meth:`category_codes`),
        nulls are -1; unlike the one-hot block, two different values the real table lacks
        stay different (a near-unique column's new values do not match each other).
        """
        columns = []
        for column in self.wide_categorical:
            if column not in self._wide_lookup:
                self._wide_lookup[column] = self._value_lookup(column)
            lookup = self._wide_lookup[column]
            keys = (_key(v) for v in frame[column].astype(object))
            columns.append(np.fromiter((-1 if k is None else lookup.setdefault(k, len(lookup)) for k in keys),
                                       dtype=np.int64, count=len(frame)))
        return np.column_stack(columns) if columns else np.empty((len(frame), 0), dtype=np.int64)

    def _value_lookup(self, column: str) -> dict:
        """Code of every value of ``column`` in the real levels, then the synthetic and holdout tables."""
        lookup: dict = {}
        values = [self._levels[column]] + [frame[column].dropna().unique() for frame in
                                           (self.synthetic, self.holdout) if frame is not None]
        for value in (v for block in values for v in block):
            lookup.setdefault(_key(value), len(lookup))
        return lookup

    def gower_space(self, frame: pd.DataFrame) -> np.ndarray:
        """``(n, d)`` float32 matrix where ``|x - y|_1 / len(columns)`` is the Gower distance.

        Numbers are scaled to [0, 1] by their real range and clipped there, so a column adds
        at most 1; a null number is placed at 2, so null matches null and a null against a
        number costs between 1 and 2 (Gower leaves nulls to the implementer). Categories
        (null and unseen values as levels of their own) are one-hot / 2, so a mismatch costs 1;
        the :attr:`wide_categorical` columns are left out (see :meth:`gower_codes`).
        """
        blocks, wide = [], set(self.wide_categorical)
        for column in self.columns:
            if column in wide:
                continue
            if column in self._levels:
                n_levels = len(self._levels[column])
                codes = self.category_codes(frame, column)
                codes = np.where(codes == -2, n_levels, np.where(codes == -1, n_levels + 1, codes))
                onehot = np.zeros((len(frame), n_levels + 2), dtype=np.float32)
                onehot[np.arange(len(frame)), codes] = 0.5
                blocks.append(onehot)
            else:
                low, high = self.real[column].min(), self.real[column].max()
                scale = float(high - low) or 1.0
                values = np.clip((frame[column].to_numpy(dtype=float) - low) / scale, 0.0, 1.0)
                blocks.append(np.where(np.isnan(values), 2.0, values).reshape(-1, 1).astype(np.float32))
        return np.concatenate(blocks, axis=1) if blocks else np.empty((len(frame), 0), dtype=np.float32)


def _key(value: Any) -> Any:
    """Hashable key comparing categories by value: None for nulls; True is not 1; 1.0 is 1."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return (type(value) is bool, value)


def _levels(metadata: Metadata, column: str, real: pd.Series) -> list:
    levels = list(metadata[column].categories or [])
    seen = {_key(v) for v in levels}
    for value in real.dropna().unique():  # categories the metadata did not list
        if _key(value) not in seen:
            levels.append(value)
            seen.add(_key(value))
    return levels


def _coerce(frame: pd.DataFrame, metadata: Metadata, table: str) -> pd.DataFrame:
    """Numbers as float64 and datetimes as float seconds; check values fit each kind."""
    out = {}
    for column in frame.columns:
        kind, values = metadata[column].kind, frame[column]
        if kind == "numerical":
            numbers = pd.to_numeric(values, errors="coerce")
            bad = numbers.isna() & values.notna()
            if bad.any():
                raise ValueError(
                    f"Column '{column}' is numerical but the {table} table holds non-numeric values "
                    f"such as {values[bad].iloc[0]!r}; the tables must share the real table's kinds."
                )
            out[column] = numbers.astype(float)
        elif kind == "datetime":
            fmt = metadata[column].datetime_format
            stamps = pd.to_datetime(values, format=fmt, errors="coerce") if fmt else pd.to_datetime(values, errors="coerce")
            bad = stamps.isna() & values.notna()
            if bad.any():
                raise ValueError(
                    f"Column '{column}' is a datetime but the {table} table holds values that are not dates "
                    f"such as {values[bad].iloc[0]!r}."
                )
            nanos = stamps.astype("datetime64[ns]").to_numpy().astype("int64").astype(float)
            out[column] = pd.Series(np.where(stamps.isna(), np.nan, nanos / _NS_PER_SECOND), index=frame.index)
        else:
            out[column] = values
    return pd.DataFrame(out, index=frame.index)
