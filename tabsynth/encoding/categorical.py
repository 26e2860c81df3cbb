"""One-hot encoding of categorical (and boolean) columns, with a null category."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tabsynth.encoding.base import ColumnEncoder, restore_dtype
from tabsynth.encoding.spans import Span
from tabsynth.metadata import ColumnMetadata


class CategoricalEncoder(ColumnEncoder):
    """One-hot over the metadata's categories, plus a last slot for null when nullable.

    Continuous view: one ``category`` span of width ``len(categories) (+1)``.
    Categories keep their Python type (str, int, bool), so decoding gives back
    exactly the values seen.

    Attributes
    ----------
    unknown_slot_ : int or None
        Slot that values outside the categories are encoded to (a DP fit's category set
        holds only the released values: :mod:`tabsynth.privacy.continuous_release`); None
        (the default): such values are an error.
    """

    kind = "categorical"

    def __init__(self, meta: ColumnMetadata):
        super().__init__(meta)
        if not meta.categories:
            raise ValueError(f"Column '{meta.name}' is categorical but its metadata lists no categories.")
        self.categories = list(meta.categories)
        self.unknown_slot_: int | None = None

    def fit(self, series: pd.Series, rng: np.random.Generator) -> "CategoricalEncoder":
        return self  # the categories come from the metadata

    @property
    def n_slots(self) -> int:
        return len(self.categories) + int(self.meta.nullable)

    def spans(self) -> list[Span]:
        return [Span(self.name, "category", 0, self.n_slots)]

    def codes(self, series: pd.Series, *, unknown_code: int | None = None) -> np.ndarray:
        """Column -> ``(n,)`` int64 slot index (the null slot is last).

        ``unknown_code``, when given, is the code of values outside the categories (a DP
        fit's category set holds only the released values) instead of an error.

        Raises
        ------
        ValueError
            If a value is not among the metadata's categories (and ``unknown_code`` is
            None), or a null appears in a column whose metadata says it has none.
        """
        lookup = {_key(c): i for i, c in enumerate(self.categories)}
        missing = series.isna().to_numpy()
        keys = [_key(v) for v in series.to_numpy(dtype=object)]
        codes = np.fromiter((lookup.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))
        if missing.any():
            if not self.meta.nullable:
                raise ValueError(f"Column '{self.name}' has nulls but its metadata says it has none.")
            codes[missing] = len(self.categories)
        unknown = (codes < 0) & ~missing
        if unknown.any() and unknown_code is not None:
            codes[unknown] = unknown_code
        elif unknown.any():
            examples = sorted({str(v) for v in series[unknown].head(5)})
            raise ValueError(
                f"Column '{self.name}' holds value(s) {examples} that are not among its categories "
                f"{self.categories[:20]}; add them to the metadata or drop those rows."
            )
        return codes

    def category_index(self, value: Any) -> int:
        """Slot of ``value``; accepts the category itself or its text (``"True"``, ``"3"``).

        Raises
        ------
        ValueError
            Listing the allowed values when ``value`` matches none.
        """
        for i, category in enumerate(self.categories):
            if _key(category) == _key(value):
                return i
        text = str(value).strip().lower()
        for i, category in enumerate(self.categories):
            if str(category).lower() == text:
                return i
        raise ValueError(
            f"Value {value!r} is not a category of column '{self.name}'; allowed values: {self.categories}."
        )

    def to_continuous(self, series: pd.Series, rng: np.random.Generator) -> np.ndarray:
        codes = self.codes(series, unknown_code=self.unknown_slot_)
        block = np.zeros((len(codes), self.n_slots), dtype=np.float32)
        block[np.arange(len(codes)), codes] = 1.0
        return block

    def from_continuous(self, block: np.ndarray, n_rows: int) -> pd.Series:
        codes = np.argmax(block, axis=1)
        lookup = np.array(self.categories + [None], dtype=object)
        values = pd.Series(lookup[codes], name=self.name)
        return restore_dtype(values, self.meta)

    def state(self) -> dict:
        return {} if self.unknown_slot_ is None else {"unknown_slot": self.unknown_slot_}

    def load_state(self, state: dict) -> None:
        self.unknown_slot_ = state.get("unknown_slot")


def _key(value: Any) -> Any:
    """Hashable key that tells ``True`` from ``1`` (Python treats them as equal)."""
    if isinstance(value, np.generic):
        value = value.item()
    return (type(value) is bool, value)
