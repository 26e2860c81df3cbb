"""The per-column encoder interface shared by every column kind.

A column encoder turns one pandas column into a block of the model's matrix and
back: the *continuous view* used by CTGAN and TVAE. The *discrete view* of the
autoregressive model (one token per cell, :mod:`tabsynth.encoding.tokens`) lives in
its own classes with the same ``fit`` / ``state`` / ``load_state`` shape and
``to_tokens`` / ``from_tokens`` in place of the continuous pair; it reuses these
encoders' value conversions and rounding, so both views decode to the same schema.
A numerical column's discrete view needs quantile bins, not a Gaussian mixture, so
keeping the views apart spares the flagship the mixture fit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import pandas as pd

from tabsynth.encoding.spans import Span
from tabsynth.metadata import ColumnMetadata


class ColumnEncoder(ABC):
    """Reversible encoding of one column.

    Subclasses set ``kind`` and implement fitting, the continuous view and state
    (de)serialisation. Encoders of kinds that are not learned (id, constant) have
    no spans and regenerate their column on decode.
    """

    kind: str = ""

    def __init__(self, meta: ColumnMetadata):
        self.meta = meta

    @property
    def name(self) -> str:
        return self.meta.name

    @abstractmethod
    def fit(self, series: pd.Series, rng: np.random.Generator) -> "ColumnEncoder":
        """Learn the encoding from the real column; return self."""

    @abstractmethod
    def spans(self) -> list[Span]:
        """Spans of the continuous view, with ``start`` relative to this column's block."""

    @abstractmethod
    def to_continuous(self, series: pd.Series, rng: np.random.Generator) -> np.ndarray:
        """Encode: ``(n,)`` column -> ``(n, width)`` float32 block."""

    @abstractmethod
    def from_continuous(self, block: np.ndarray, n_rows: int) -> pd.Series:
        """Decode: ``(n, width)`` block -> ``(n,)`` column with the real dtype."""

    @abstractmethod
    def state(self) -> dict:
        """Learned state as plain JSON."""

    @abstractmethod
    def load_state(self, state: dict) -> None:
        """Restore the state written by :meth:`state`."""

    @property
    def width(self) -> int:
        return sum(span.width for span in self.spans())


def restore_dtype(values: pd.Series, meta: ColumnMetadata) -> pd.Series:
    """Cast decoded values to the column's original pandas dtype.

    Integer and boolean columns that contain nulls become pandas' nullable ``Int64`` /
    ``boolean`` so nulls survive without turning the column into floats or objects.
    """
    dtype = meta.dtype
    has_null = bool(values.isna().any())
    if has_null and dtype.lower().startswith(("int", "uint")):
        return values.astype("Int64")
    if has_null and dtype == "bool":
        return values.astype("boolean")
    try:
        return values.astype(dtype)
    except (TypeError, ValueError):
        return values.astype(object)
