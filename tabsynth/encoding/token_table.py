"""TokenTable: the discrete view of a whole table, one integer token per learned cell."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tabsynth.encoding.passthrough import ConstantEncoder, IdEncoder, KeyEncoder, Regenerated
from tabsynth.encoding.tokens import CategoricalTokens, NumericalTokens
from tabsynth.metadata import Metadata


_REGENERATED = {"id": IdEncoder, "key": KeyEncoder, "constant": ConstantEncoder}
# Name of a fine token's column in ``token_columns_``: ``<column>`` + this.
FINE_SUFFIX = "#fine"


class TokenTable:
    """Reversible tokenisation of a table for the autoregressive model (the discrete view).

    Categorical, boolean, numerical and datetime columns are *learned*: each becomes one
    token column (see :mod:`tabsynth.encoding.tokens`), and with ``fine_bins`` > 1 a
    numerical one with quantile bins has a second, its fine token, right after it
    (``<column>`` then ``<column>`` + :data:`FINE_SUFFIX`). Id, key and constant columns are
    regenerated on decode, as in :class:`~tabsynth.encoding.TableEncoder`.

    Parameters
    ----------
    metadata : Metadata
    n_bins : int, default 32
        Most quantile bins per numerical column.
    rare_threshold : int, default 5
        Categories, point masses and bins held by fewer training rows are protected.
    clip_quantile : float, default 0.001
        Numerical values are clipped to this lower / upper quantile.
    random_state : int or None
        Unused when fitting (binning is deterministic); kept for the encoder interface.
    fine_bins : int or dict of str -> int, default 1
        Sub-bins of the fine token of numerical columns (1: none); a dict gives them per
        column (columns it leaves out: 1). Datetime columns never have one.

    Attributes
    ----------
    columns_ : list of str
        Learned columns, in table order.
    token_columns_ : list of str
        The token matrix's columns: each learned column, followed by its fine token's column
        where it has one.
    vocabulary_sizes_ : list of int
        Tokens per token column.
    """

    def __init__(self, metadata: Metadata, *, n_bins: int = 32, rare_threshold: int = 5,
                 clip_quantile: float = 0.001, random_state: int | None = None,
                 fine_bins: int | dict[str, int] = 1):
        self.metadata = metadata
        self.n_bins = n_bins
        self.fine_bins = fine_bins
        self.rare_threshold = rare_threshold
        self.clip_quantile = clip_quantile
        self.random_state = random_state
        self.tokenizers_: dict[str, CategoricalTokens | NumericalTokens] = {}
        self.regenerated_: dict[str, Regenerated] = {}
        if isinstance(fine_bins, dict):
            unknown = [c for c in fine_bins if c not in metadata.names or metadata[c].kind != "numerical"]
            if unknown:
                raise ValueError(f"fine_bins names column(s) {unknown} that are not numerical columns of the table; "
                                 "fine tokens are for numerical columns.")
        for meta in metadata:
            if meta.kind == "categorical":
                self.tokenizers_[meta.name] = CategoricalTokens(meta, rare_threshold=rare_threshold)
            elif meta.kind in ("numerical", "datetime"):
                fine = fine_bins.get(meta.name, 1) if isinstance(fine_bins, dict) else fine_bins
                self.tokenizers_[meta.name] = NumericalTokens(
                    meta, n_bins=n_bins, rare_threshold=rare_threshold, clip_quantile=clip_quantile,
                    fine_bins=fine if meta.kind == "numerical" else 1)
            else:
                self.regenerated_[meta.name] = _REGENERATED[meta.kind](meta)

    @property
    def columns_(self) -> list[str]:
        return list(self.tokenizers_)

    def _layout(self) -> list[tuple[str, bool]]:
        """``(learned column, is its fine token)`` for each token column, in order (known once
        fitted or loaded: a column has a fine token only if it has quantile bins)."""
        return [(name, fine) for name, t in self.tokenizers_.items()
                for fine in ((False, True) if isinstance(t, NumericalTokens) and t.has_fine else (False,))]

    @property
    def token_columns_(self) -> list[str]:
        return [name + FINE_SUFFIX if fine else name for name, fine in self._layout()]

    @property
    def token_owners_(self) -> list[str]:
        """The learned column of each token column."""
        return [name for name, _ in self._layout()]

    def token_indices(self, column: str) -> list[int]:
        """Token matrix columns of learned column ``column``: its token (first) and its fine token."""
        return [j for j, (name, _) in enumerate(self._layout()) if name == column]

    @property
    def vocabulary_sizes_(self) -> list[int]:
        return [self.tokenizers_[name].fine_vocabulary_size if fine else self.tokenizers_[name].vocabulary_size
                for name, fine in self._layout()]

    def fit(self, data: pd.DataFrame) -> "TokenTable":
        """Fit every column on ``data``. Raises ValueError on missing columns or unknown values."""
        frame = self.metadata.check_frame(data, what="training table")
        rng = np.random.default_rng(self.random_state)
        for name, tokenizer in {**self.tokenizers_, **self.regenerated_}.items():
            tokenizer.fit(frame[name], rng)
        return self

    def transform(self, data: pd.DataFrame) -> np.ndarray:
        """DataFrame with ``n`` rows -> ``(n, len(token_columns_))`` int64 tokens."""
        frame = self.metadata.check_frame(data)
        tokens = []
        for name, tokenizer in self.tokenizers_.items():
            if isinstance(tokenizer, NumericalTokens) and tokenizer.has_fine:
                tokens.extend(tokenizer.to_token_pair(frame[name]))
            else:
                tokens.append(tokenizer.to_tokens(frame[name]))
        return np.stack(tokens, axis=1) if tokens else np.zeros((len(frame), 0), dtype=np.int64)

    def inverse_transform(self, tokens: np.ndarray, rng: np.random.Generator,
                          bounds: dict[str, tuple[float, float]] | None = None) -> pd.DataFrame:
        """``(n, len(token_columns_))`` tokens -> DataFrame with the real schema, in metadata order.

        ``bounds`` maps numerical columns to the range their in-bin draws must respect
        (from :meth:`allowed_tokens`).
        """
        tokens = np.asarray(tokens)
        n_rows, bounds = tokens.shape[0], bounds or {}
        decoded: dict[str, pd.Series] = {}
        for name, tokenizer in self.tokenizers_.items():
            first, *fine = self.token_indices(name)
            decoded[name] = tokenizer.from_tokens(tokens[:, first], rng, bounds.get(name),
                                                  **({"fine": tokens[:, fine[0]]} if fine else {}))
            decoded[name] = decoded[name].reset_index(drop=True)
        for name, encoder in self.regenerated_.items():
            decoded[name] = encoder.generate(n_rows, rng).reset_index(drop=True)
        return pd.DataFrame({name: decoded[name] for name in self.metadata.names})

    def allowed_tokens(self, column: str, condition: Any) -> tuple[np.ndarray, tuple[float, float] | None]:
        """``(vocabulary,)`` bool mask of the tokens meeting ``condition``, and numeric bounds.

        Raises
        ------
        ValueError
            On an unknown or unlearned column, or a value/range no token meets.
        """
        if column not in self.metadata.columns:
            raise ValueError(f"Condition on unknown column '{column}'; columns are {self.metadata.names}.")
        if column not in self.tokenizers_:
            raise ValueError(f"Column '{column}' is an {self.metadata[column].kind} column, generated rather "
                             "than learned; it cannot be conditioned on.")
        return self.tokenizers_[column].allowed_tokens(condition)

    def null_tokens(self) -> list[int | None]:
        """Null token of each token column (None where the column has no nulls, and for fine tokens)."""
        return [None if fine else self.tokenizers_[name].null_token() for name, fine in self._layout()]

    # ------------------------------------------------------------------ state
    def state(self) -> dict:
        return {
            "view": "tokens", "n_bins": self.n_bins, "rare_threshold": self.rare_threshold,
            "clip_quantile": self.clip_quantile, "fine_bins": self.fine_bins,
            "columns": {name: t.state() for name, t in {**self.tokenizers_, **self.regenerated_}.items()},
        }

    @classmethod
    def from_state(cls, metadata: Metadata, state: dict) -> "TokenTable":
        """Rebuild a fitted TokenTable from :meth:`state` and its metadata."""
        if state.get("view") != "tokens":
            raise ValueError("The saved encoder state is not a token table.")
        # States written before fine tokens have no "fine_bins": none.
        table = cls(metadata, n_bins=state["n_bins"], rare_threshold=state["rare_threshold"],
                    clip_quantile=state["clip_quantile"], fine_bins=state.get("fine_bins", 1))
        for name, tokenizer in {**table.tokenizers_, **table.regenerated_}.items():
            tokenizer.load_state(state["columns"][name])
        return table
