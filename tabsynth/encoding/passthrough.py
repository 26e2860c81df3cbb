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
    """Identifier column: decoding generates fresh unique keys that equal no training key.

    Integer keys continue after the largest training key (``max + 1 .. max + n``); string
    keys become ``"synthetic-000001"``-style strings. Equal key values would otherwise
    invite joining a synthetic row to the real customer who happens to hold that key.
    Keys the model never saw (a holdout's, say) may still coincide by numbering.
    """

    kind = "id"

    def __init__(self, meta):
        super().__init__(meta)
        self.first_key_ = 1

    def fit(self, series: pd.Series, rng: np.random.Generator) -> "IdEncoder":
        if self.meta.is_integer:
            self.first_key_ = int(pd.to_numeric(series).max()) + 1
        return self

    def from_continuous(self, block: np.ndarray, n_rows: int) -> pd.Series:
        keys = np.arange(self.first_key_, self.first_key_ + n_rows)
        if self.meta.is_integer:
            return pd.Series(keys, name=self.name, dtype="int64")
        width = max(6, len(str(n_rows)))
        return restore_dtype(pd.Series([f"synthetic-{k:0{width}d}" for k in keys], name=self.name), self.meta)

    def state(self) -> dict:
        return {"first_key": self.first_key_}

    def load_state(self, state: dict) -> None:
        self.first_key_ = int(state.get("first_key", 1))


class ConstantEncoder(_NotLearned):
    """Constant column: decoding repeats the single observed value on every row."""

    kind = "constant"

    def from_continuous(self, block: np.ndarray, n_rows: int) -> pd.Series:
        value = self.meta.value
        if self.meta.dtype.startswith("datetime"):
            value = pd.Timestamp(value)
        return restore_dtype(pd.Series([value] * n_rows, name=self.name), self.meta)
