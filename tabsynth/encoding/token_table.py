"""TokenTable: the discrete view of a whole table, one integer token per learned cell."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tabsynth.encoding.passthrough import ConstantEncoder, IdEncoder, KeyEncoder, Regenerated
from tabsynth.encoding.tokens import CategoricalTokens, NumericalTokens
from tabsynth.metadata import Metadata


_REGENERATED = {"id": IdEncoder, "key": KeyEncoder, "constant": ConstantEncoder}


class TokenTable:
    """Reversible tokenisation of a table for the autoregressive model (the discrete view).

    Categorical, boolean, numerical and datetime columns are *learned*: each becomes one
    token column (see :mod:`tabsynth.encoding.tokens`). Id, key and constant columns are
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

    Attributes
    ----------
    columns_ : list of str
        Learned columns, in table order (token matrix column order).
    vocabulary_sizes_ : list of int
        Tokens per learned column.
    """

    def __init__(self, metadata: Metadata, *, n_bins: int = 32, rare_threshold: int = 5,
                 clip_quantile: float = 0.001, random_state: int | None = None):
        self.metadata = metadata
        self.n_bins = n_bins
        self.rare_threshold = rare_threshold
        self.clip_quantile = clip_quantile
        self.random_state = random_state
        self.tokenizers_: dict[str, CategoricalTokens | NumericalTokens] = {}
        self.regenerated_: dict[str, Regenerated] = {}
        for meta in metadata:
            if meta.kind == "categorical":
                self.tokenizers_[meta.name] = CategoricalTokens(meta, rare_threshold=rare_threshold)
            elif meta.kind in ("numerical", "datetime"):
                self.tokenizers_[meta.name] = NumericalTokens(
                    meta, n_bins=n_bins, rare_threshold=rare_threshold, clip_quantile=clip_quantile)
            else:
                self.regenerated_[meta.name] = _REGENERATED[meta.kind](meta)

    @property
    def columns_(self) -> list[str]:
        return list(self.tokenizers_)

    @property
    def vocabulary_sizes_(self) -> list[int]:
        return [t.vocabulary_size for t in self.tokenizers_.values()]

    def fit(self, data: pd.DataFrame) -> "TokenTable":
        """Fit every column on ``data``. Raises ValueError on missing columns or unknown values."""
        frame = self.metadata.check_frame(data, what="training table")
        rng = np.random.default_rng(self.random_state)
        for name, tokenizer in {**self.tokenizers_, **self.regenerated_}.items():
            tokenizer.fit(frame[name], rng)
        return self

    def transform(self, data: pd.DataFrame) -> np.ndarray:
        """DataFrame with ``n`` rows -> ``(n, len(columns_))`` int64 tokens."""
        frame = self.metadata.check_frame(data)
        tokens = [tokenizer.to_tokens(frame[name]) for name, tokenizer in self.tokenizers_.items()]
        return np.stack(tokens, axis=1) if tokens else np.zeros((len(frame), 0), dtype=np.int64)

    def inverse_transform(self, tokens: np.ndarray, rng: np.random.Generator,
                          bounds: dict[str, tuple[float, float]] | None = None) -> pd.DataFrame:
        """``(n, len(columns_))`` tokens -> DataFrame with the real schema, in metadata order.

        ``bounds`` maps numerical columns to the range their in-bin draws must respect
        (from :meth:`allowed_tokens`).
        """
        tokens = np.asarray(tokens)
        n_rows, bounds = tokens.shape[0], bounds or {}
        decoded: dict[str, pd.Series] = {}
        for j, (name, tokenizer) in enumerate(self.tokenizers_.items()):
            decoded[name] = tokenizer.from_tokens(tokens[:, j], rng, bounds.get(name)).reset_index(drop=True)
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
        """Null token of each learned column (None where the column has no nulls)."""
        return [t.null_token() for t in self.tokenizers_.values()]

    # ------------------------------------------------------------------ state
    def state(self) -> dict:
        return {
            "view": "tokens", "n_bins": self.n_bins, "rare_threshold": self.rare_threshold,
            "clip_quantile": self.clip_quantile,
            "columns": {name: t.state() for name, t in {**self.tokenizers_, **self.regenerated_}.items()},
        }

    @classmethod
    def from_state(cls, metadata: Metadata, state: dict) -> "TokenTable":
        """Rebuild a fitted TokenTable from :meth:`state` and its metadata."""
        if state.get("view") != "tokens":
            raise ValueError("The saved encoder state is not a token table.")
        table = cls(metadata, n_bins=state["n_bins"], rare_threshold=state["rare_threshold"],
                    clip_quantile=state["clip_quantile"])
        for name, tokenizer in {**table.tokenizers_, **table.regenerated_}.items():
            tokenizer.load_state(state["columns"][name])
        return table
