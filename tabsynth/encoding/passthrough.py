"""Columns that are not learned but regenerated: identifiers, keys shared by rows, constants.

They take no slot in either view; decoding calls :meth:`Regenerated.generate` instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabsynth.encoding.base import ColumnEncoder, restore_dtype
from tabsynth.encoding.spans import Span


class Regenerated(ColumnEncoder):
    """Zero-width encoder: nothing goes into the model's matrix; decoding generates the column."""

    def fit(self, series: pd.Series, rng: np.random.Generator) -> "Regenerated":
        return self

    def spans(self) -> list[Span]:
        return []

    def to_continuous(self, series: pd.Series, rng: np.random.Generator) -> np.ndarray:
        return np.zeros((len(series), 0), dtype=np.float32)

    def from_continuous(self, block: np.ndarray, n_rows: int) -> pd.Series:
        """:meth:`generate` with a fixed seed; the table encoders call ``generate`` with their rng."""
        return self.generate(n_rows, np.random.default_rng(0))

    def generate(self, n_rows: int, rng: np.random.Generator) -> pd.Series:
        """``n_rows`` values of the column; ``rng`` for the encoders that draw."""
        raise NotImplementedError

    def state(self) -> dict:
        return {}

    def load_state(self, state: dict) -> None:
        pass


class IdEncoder(Regenerated):
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

    def generate(self, n_rows: int, rng: np.random.Generator) -> pd.Series:
        return self._keys(np.arange(n_rows))

    def _keys(self, numbers: np.ndarray) -> pd.Series:
        """Fresh keys for 0-based key numbers ``(n,)`` int."""
        keys = self.first_key_ + numbers
        if self.meta.is_integer:
            return pd.Series(keys, name=self.name, dtype="int64")
        width = max(6, len(str(int(keys.max()) if len(keys) else 1)))
        return restore_dtype(pd.Series([f"synthetic-{k:0{width}d}" for k in keys], name=self.name), self.meta)

    def state(self) -> dict:
        return {"first_key": self.first_key_}

    def load_state(self, state: dict) -> None:
        self.first_key_ = int(state.get("first_key", 1))


class KeyEncoder(IdEncoder):
    """A key shared by several rows (a customer id in a transactions table): fresh keys with the
    real table's number of rows per key.

    Single-table models learn every row on its own, so nothing ties the rows that share a
    synthetic key beyond the count; modelling such parent-to-child structure is the job of a
    relational model. Keys are fresh as for :class:`IdEncoder`.

    Attributes
    ----------
    rows_per_key_ : ndarray of int, shape (S,)
        The distinct numbers of rows per key in the training table, ascending.
    key_share_ : ndarray of float, shape (S,)
        The share of keys with each of those numbers of rows (sums to 1).
    """

    kind = "key"

    def __init__(self, meta):
        super().__init__(meta)
        self.rows_per_key_ = np.ones(1, dtype=np.int64)
        self.key_share_ = np.ones(1)

    def fit(self, series: pd.Series, rng: np.random.Generator) -> "KeyEncoder":
        super().fit(series, rng)
        sizes, keys = np.unique(series.value_counts(dropna=True).to_numpy(), return_counts=True)
        self.rows_per_key_, self.key_share_ = sizes.astype(np.int64), keys / keys.sum()
        return self

    def generate(self, n_rows: int, rng: np.random.Generator) -> pd.Series:
        """Keys for ``n_rows`` rows: group sizes drawn from the real distribution until they cover
        the rows (the last group cut to fit), rows of one key next to each other."""
        mean = float(self.rows_per_key_ @ self.key_share_)
        sizes = np.zeros(0, dtype=np.int64)
        while sizes.sum() < n_rows:
            draws = int(np.ceil((n_rows - sizes.sum()) / mean * 1.1)) + 1
            sizes = np.concatenate([sizes, rng.choice(self.rows_per_key_, size=draws, p=self.key_share_)])
        covered = np.searchsorted(np.cumsum(sizes), n_rows) + 1  # groups needed to reach n_rows
        numbers = np.repeat(np.arange(covered), sizes[:covered])[:n_rows]
        return self._keys(numbers)

    def state(self) -> dict:
        return {**super().state(), "rows_per_key": self.rows_per_key_.tolist(), "key_share": self.key_share_.tolist()}

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        self.rows_per_key_ = np.asarray(state["rows_per_key"], dtype=np.int64)
        self.key_share_ = np.asarray(state["key_share"], dtype=float)


class ConstantEncoder(Regenerated):
    """Constant column: decoding repeats the single observed value on every row."""

    kind = "constant"

    def generate(self, n_rows: int, rng: np.random.Generator) -> pd.Series:
        value = self.meta.value
        if self.meta.dtype.startswith("datetime"):
            value = pd.Timestamp(value)
        return restore_dtype(pd.Series([value] * n_rows, name=self.name), self.meta)
