"""Columns that are not learned: identifiers (fresh keys) and constants (repeated value)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabsynth.encoding.base import ColumnEncoder, restore_dtype
from tabsynth.encoding.spans import Span


class _NotLearned(ColumnEncoder):
    """Zero-width encoder: nothing goes into the model's matrix."""

    def fit(self, series: pd.Series, rng: np.random.Generator) -> "_NotLearned":
        return self

    def spans(self) -> list[Span]:
        return []

    def to_continuous(self, series: pd.Series, rng: np.random.Generator) -> np.ndarray:
        return np.zeros((len(series), 0), dtype=np.float32)

    def state(self) -> dict:
        return {}

    def load_state(self, state: dict) -> None:
        pass


class IdEncoder(_NotLearned):
    """Identifier column: decoding generates fresh unique keys ``1..n``.

    Integer keys stay integers; string keys become zero-padded decimal strings
    (``"000001"``) as wide as the longest real key, so they are unique and carry no
    information about real keys.
    """

    kind = "id"

    def from_continuous(self, block: np.ndarray, n_rows: int) -> pd.Series:
        keys = np.arange(1, n_rows + 1)
        if self.meta.is_integer:
            return pd.Series(keys, name=self.name, dtype="int64")
        width = max(6, len(str(n_rows)))
        return restore_dtype(pd.Series([str(k).zfill(width) for k in keys], name=self.name), self.meta)


class ConstantEncoder(_NotLearned):
    """Constant column: decoding repeats the single observed value on every row."""

    kind = "constant"

    def from_continuous(self, block: np.ndarray, n_rows: int) -> pd.Series:
        value = self.meta.value
        if self.meta.dtype.startswith("datetime"):
            value = pd.Timestamp(value)
        return restore_dtype(pd.Series([value] * n_rows, name=self.name), self.meta)
