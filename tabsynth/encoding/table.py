"""TableEncoder: one column encoder per column, assembled into one float32 matrix + spans."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tabsynth.encoding.base import ColumnEncoder
from tabsynth.encoding.categorical import CategoricalEncoder
from tabsynth.encoding.numerical import DatetimeEncoder, NumericalEncoder
from tabsynth.encoding.passthrough import ConstantEncoder, IdEncoder, KeyEncoder, Regenerated
from tabsynth.encoding.spans import Span, check_spans
from tabsynth.metadata import ColumnMetadata, Metadata

ENCODER_OF_KIND: dict[str, type[ColumnEncoder]] = {
    "numerical": NumericalEncoder,
    "datetime": DatetimeEncoder,
    "categorical": CategoricalEncoder,
    "id": IdEncoder,
    "key": KeyEncoder,
    "constant": ConstantEncoder,
}


class TableEncoder:
    """Reversible encoding of a whole table for CTGAN and TVAE (the continuous view).

    Numerical and datetime columns get mode-specific normalization (Xu et al.
    2019), categorical and boolean columns a one-hot, id, key and constant columns no
    slot at all (they are regenerated on decode).

    Parameters
    ----------
    metadata : Metadata
    max_modes : int, default 10
        Mixture components per numerical column.
    max_fit_rows : int, default 5000
        Rows the mixture of each numerical column is fitted on (seeded subsample).
    random_state : int or None
        Seed of the encoder's own generator (mixture fits and mode sampling).

    Attributes
    ----------
    encoders_ : list of ColumnEncoder
        In table order.
    spans_ : list of Span
        Layout of the encoded matrix; see :mod:`tabsynth.encoding.spans`.
    width_ : int
        Number of matrix columns.
    """

    def __init__(self, metadata: Metadata, *, max_modes: int = 10, max_fit_rows: int = 5000,
                 random_state: int | None = None):
        self.metadata = metadata
        self.max_modes = max_modes
        self.max_fit_rows = max_fit_rows
        self.random_state = random_state
        self._rng = np.random.default_rng(random_state)
        self.encoders_: list[ColumnEncoder] = [self._make_encoder(meta) for meta in metadata]
        self.spans_: list[Span] = []
        self.width_ = 0

    def _make_encoder(self, meta: ColumnMetadata) -> ColumnEncoder:
        cls = ENCODER_OF_KIND[meta.kind]
        if issubclass(cls, NumericalEncoder):
            return cls(meta, max_modes=self.max_modes, max_fit_rows=self.max_fit_rows)
        return cls(meta)

    def fit(self, data: pd.DataFrame) -> "TableEncoder":
        """Fit every column encoder on ``data`` (columns as in the metadata).

        Raises
        ------
        ValueError
            If a column is missing, or holds values the metadata does not allow.
        """
        frame = self.metadata.check_frame(data, what="training table")
        for encoder in self.encoders_:
            encoder.fit(frame[encoder.name], self._rng)
        self._layout()
        return self

    def _layout(self) -> None:
        spans, offset = [], 0
        for encoder in self.encoders_:
            for span in encoder.spans():
                spans.append(span.shifted(offset))
            offset += encoder.width
        self.spans_, self.width_ = spans, offset
        check_spans(self.spans_, self.width_)

    def transform(self, data: pd.DataFrame) -> np.ndarray:
        """Encode ``data``: DataFrame with ``n`` rows -> ``(n, width_)`` float32 matrix.

        Mode indicators are sampled from each value's posterior with the encoder's own
        generator, so encoding the same table twice from the same seed gives the same matrix.
        """
        frame = self.metadata.check_frame(data)
        blocks = [enc.to_continuous(frame[enc.name], self._rng) for enc in self.encoders_]
        return np.concatenate(blocks, axis=1).astype(np.float32, copy=False)

    def inverse_transform(self, matrix: np.ndarray, rng: np.random.Generator | None = None) -> pd.DataFrame:
        """Decode ``(n, width_)`` floats to a DataFrame with the real schema.

        One-hot blocks are read by argmax, so raw logits or soft outputs decode too.
        Columns come back in metadata order with the original dtypes, rounded to the
        observed decimals and clipped to the observed bounds. Id, key and constant columns
        are generated; ``rng`` draws the rows per key (default: a fixed seed).
        """
        matrix = np.asarray(matrix)
        assert matrix.shape[1] == self.width_, f"matrix has {matrix.shape[1]} columns, encoder {self.width_}"
        rng = np.random.default_rng(0) if rng is None else rng
        n_rows, offset, columns = matrix.shape[0], 0, {}
        for encoder in self.encoders_:
            if isinstance(encoder, Regenerated):
                columns[encoder.name] = encoder.generate(n_rows, rng).reset_index(drop=True)
                continue
            block = matrix[:, offset : offset + encoder.width]
            columns[encoder.name] = encoder.from_continuous(block, n_rows).reset_index(drop=True)
            offset += encoder.width
        return pd.DataFrame(columns)

    # ------------------------------------------------------------------ conditions
    def condition_slot(self, column: str, value: Any) -> tuple[Span, int]:
        """The category span of ``column`` and the slot of ``value`` in it.

        Raises
        ------
        ValueError
            If the column is unknown, is not categorical/boolean, or the value is not
            one of its categories (the message lists the allowed ones).
        """
        span, slots = self.condition_slots(column, value)
        if len(slots) != 1 or span.role != "category":
            raise ValueError(f"Condition {value!r} on column '{column}' is not a single category.")
        return span, slots[0]

    def condition_slots(self, column: str, condition: Any) -> tuple[Span, list[int]]:
        """The span a condition on ``column`` reads and the slots that meet it.

        ``condition`` is a category, a list / tuple / set of categories (any of them), or
        None for null cells: on a categorical column its null slot, on a numerical or
        datetime column the null slot of its ``null`` span.

        Raises
        ------
        ValueError
            If the column is unknown, nulls are asked of a column without any, a value is not
            one of the categories (the message lists them), or a non-null condition names a
            column that is not categorical/boolean.
        """
        if column not in self.metadata.columns:
            raise ValueError(f"Condition on unknown column '{column}'; columns are {self.metadata.names}.")
        encoder = self.encoders_[self.metadata.names.index(column)]
        spans = [s for s in self.spans_ if s.column == column]
        if condition is None:
            if not self.metadata[column].nullable or not spans:
                raise ValueError(f"Condition asks for nulls in column '{column}', which has none.")
            null_span = spans[0] if isinstance(encoder, CategoricalEncoder) else spans[-1]  # [present, null]
            return null_span, [null_span.width - 1]
        if not isinstance(encoder, CategoricalEncoder):
            raise ValueError(
                f"Condition on column '{column}' of kind '{encoder.kind}': CTGAN and TVAE condition only on "
                "categorical and boolean columns (and on nulls of any column)."
            )
        values = list(condition) if isinstance(condition, (list, tuple, set, frozenset)) else [condition]
        if not values:
            raise ValueError(f"Condition on column '{column}' lists no value.")
        return spans[0], sorted({encoder.category_index(v) for v in values})

    # ------------------------------------------------------------------ state
    def state(self) -> dict:
        """JSON-able state (the metadata is saved beside it, not in it)."""
        return {
            "max_modes": self.max_modes,
            "max_fit_rows": self.max_fit_rows,
            "columns": {enc.name: enc.state() for enc in self.encoders_},
            "spans": [s.to_dict() for s in self.spans_],
        }

    @classmethod
    def from_column_states(cls, metadata: Metadata, columns: dict, **options) -> "TableEncoder":
        """A fitted encoder from each column encoder's state by name (``state()["columns"]``),
        laid out; ``options`` as the constructor's. DP mode builds its encoder this way from
        released statistics (:mod:`tabsynth.privacy.continuous_release`)."""
        encoder = cls(metadata, **options)
        for column_encoder in encoder.encoders_:
            column_encoder.load_state(columns[column_encoder.name])
        encoder._layout()
        return encoder

    @classmethod
    def from_state(cls, metadata: Metadata, state: dict) -> "TableEncoder":
        """Rebuild a fitted encoder from :meth:`state` and its metadata."""
        encoder = cls.from_column_states(metadata, state["columns"], max_modes=state["max_modes"],
                                         max_fit_rows=state["max_fit_rows"])
        saved = [Span(**s) for s in state["spans"]]
        if saved != encoder.spans_:
            raise ValueError("The saved encoder state does not match its metadata (span layout differs).")
        return encoder
