"""The discrete view of a column: one token per cell, for the autoregressive model.

Every learned column becomes an integer token in ``[0, vocabulary_size)``:

* categorical / boolean: one token per category seen at least ``rare_threshold`` times,
  one *protected* token standing for all rarer categories, and a null token;
* numerical / datetime: one token per *point mass* (a value holding at least
  ``1 / n_bins`` of the rows, like 0 in a payment column or 40 in hours-per-week), then
  equal-frequency *quantile bins* over the remaining values, then a null token. Decoding a
  bin draws the value from that bin's own empirical quantile function (piecewise
  linear between ``knots_per_bin`` quantiles), so the marginal stays continuous and
  close to the real one, not a histogram; integers stay integers and observed decimals
  are kept by the column's usual rounding.
* optionally (``fine_bins`` > 1) a numerical column has a second, *fine* token: where its
  value lies inside its quantile bin, in ``fine_bins`` sub-bins of equal width in the bin's
  quantile function (so about equal shares of its rows, less so where values tie), plus one
  token for "not in a bin" (a point mass or a null). The pair (bin, sub-bin) is a two-level
  quantisation, as the digit-by-digit encoding of numbers in TabularARGN (Tiwald et al.
  2025): the model sees a number at ``n_bins * fine_bins`` resolution while each softmax
  stays small, and a sub-bin learned in one bin is the same token in every other. What it
  is for: a value drawn uniformly inside its bin forgets where the previous value of a
  sequence lay inside the same bin (credit bills re-drawn inside their own 32 bins keep a
  within-client autocorrelation KS of only 0.848 against the real one).

Privacy defaults (following common practice for released synthetic data, e.g. the
rare-category protection and quantile clipping of Tiwald et al. 2025, TabularARGN):

* a category held by fewer than ``rare_threshold`` rows is never emitted verbatim:
  strings decode to :data:`PROTECTED_CATEGORY`, numbers to the nearest frequent
  category, other values (booleans) to the most frequent one;
* numerical values are clipped to observed values with at least
  ``max(clip_quantile * n, rare_threshold)`` rows beyond them, so a minimum or maximum
  held by fewer rows never appears;
* every bin and point mass holds at least ``rare_threshold`` training rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tabsynth.encoding.base import restore_dtype
from tabsynth.encoding.categorical import CategoricalEncoder
from tabsynth.encoding.numerical import DatetimeEncoder, NumericalEncoder
from tabsynth.metadata import ColumnMetadata

# What rare string categories decode to (they are never emitted verbatim).
PROTECTED_CATEGORY = "_RARE_"


class CategoricalTokens:
    """Tokens of a categorical or boolean column, with rare categories protected.

    Parameters
    ----------
    meta : ColumnMetadata
    rare_threshold : int
        Categories held by fewer rows are merged into one protected token.

    Attributes
    ----------
    slot_token_ : ndarray of int, shape (n_categories (+1 if nullable),)
        Token of each metadata category (and of null, last).
    vocabulary_size : int
    """

    kind = "categorical"

    def __init__(self, meta: ColumnMetadata, *, rare_threshold: int):
        self.meta = meta
        self.rare_threshold = rare_threshold
        self._slots = CategoricalEncoder(meta)
        self.slot_token_: np.ndarray | None = None
        self.token_value_: list = []  # decoded value of each token (None = null)
        self.protected_token_: int | None = None
        # Token of values outside the metadata's categories (DP fits, whose category set is
        # the released one); None: such values are an error.
        self.unknown_token_: int | None = None

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def vocabulary_size(self) -> int:
        return len(self.token_value_)

    def fit(self, series: pd.Series, rng: np.random.Generator) -> "CategoricalTokens":
        slots = self._slots.codes(series)
        categories = self._slots.categories
        counts = np.bincount(slots, minlength=len(categories) + 1)[: len(categories)]
        frequent = [i for i in range(len(categories)) if counts[i] >= self.rare_threshold]
        slot_token = np.full(len(categories) + 1, -1, dtype=np.int64)
        values: list = []
        for i in frequent:
            slot_token[i] = len(values)
            values.append(categories[i])
        if len(frequent) < len(categories):
            self.protected_token_ = len(values)
            slot_token[: len(categories)][slot_token[: len(categories)] < 0] = self.protected_token_
            values.append(self._protected_value([categories[i] for i in frequent], counts, frequent))
        if self.meta.nullable:
            slot_token[len(categories)] = len(values)
            values.append(None)
        self.slot_token_ = slot_token[: len(categories) + int(self.meta.nullable)]
        self.token_value_ = values
        return self

    def _protected_value(self, frequent_values: list, counts: np.ndarray, frequent: list[int]) -> Any:
        """What the protected token decodes to (see the module docstring)."""
        categories = self._slots.categories
        if all(isinstance(c, str) for c in categories):
            return PROTECTED_CATEGORY
        if not frequent_values:
            if self.meta.nullable:
                return None
            raise ValueError(
                f"Column '{self.name}': every category is held by fewer than {self.rare_threshold} rows, so none "
                "can be emitted; lower rare_threshold, or drop or merge the column."
            )
        numeric = all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in categories)
        rare = [c for i, c in enumerate(categories) if i not in set(frequent)]
        if numeric:
            # The frequent value nearest to the rare ones' median (ordered codes stay ordered).
            centre = float(np.median(rare))
            return min(frequent_values, key=lambda v: abs(float(v) - centre))
        return frequent_values[int(np.argmax(counts[frequent]))]

    def to_tokens(self, series: pd.Series) -> np.ndarray:
        """``(n,)`` column -> ``(n,)`` int64 tokens.

        Raises ValueError on values outside the categories, unless the column has an unknown
        token (a DP fit's), which they then take.
        """
        if self.unknown_token_ is None:
            return self.slot_token_[self._slots.codes(series)]
        codes = self._slots.codes(series, unknown_code=-1)
        return np.where(codes < 0, self.unknown_token_, self.slot_token_[np.maximum(codes, 0)])

    def from_tokens(self, tokens: np.ndarray, rng: np.random.Generator, bounds=None) -> pd.Series:
        """``(n,)`` int tokens -> column with the real dtype."""
        lookup = np.array(self.token_value_, dtype=object)
        return restore_dtype(pd.Series(lookup[tokens], name=self.name), self.meta)

    def null_token(self) -> int | None:
        return self.vocabulary_size - 1 if self.meta.nullable else None

    def allowed_tokens(self, condition: Any) -> tuple[np.ndarray, None]:
        """Tokens meeting ``condition``: a category, or a list/set/tuple of categories.

        Returns ``(mask, None)`` with ``mask`` a ``(vocabulary_size,)`` bool array.

        Raises
        ------
        ValueError
            If a value is not a category (the message lists them) or is protected as rare.
        """
        wanted = list(condition) if isinstance(condition, (list, tuple, set, frozenset)) else [condition]
        mask = np.zeros(self.vocabulary_size, dtype=bool)
        for value in wanted:
            if value is None or (isinstance(value, float) and np.isnan(value)):
                if not self.meta.nullable:
                    raise ValueError(f"Condition asks for nulls in column '{self.name}', which has none.")
                mask[self.null_token()] = True
                continue
            try:
                token = int(self.slot_token_[self._slots.category_index(value)])
            except ValueError:
                token = None
            if token is None or token == self.protected_token_:
                # The same message for unknown and rare values, listing only emitted ones, so an
                # error never confirms that a rare value exists in the training data.
                emitted = [v for t, v in enumerate(self.token_value_) if t != self.protected_token_ and v is not None]
                raise ValueError(
                    f"Value {value!r} is not a category of column '{self.name}'; allowed values: {emitted}."
                )
            mask[token] = True
        return mask, None

    def state(self) -> dict:
        return {"slot_token": self.slot_token_.tolist(), "token_value": self.token_value_,
                "protected_token": self.protected_token_, "unknown_token": self.unknown_token_}

    def load_state(self, state: dict) -> None:
        self.slot_token_ = np.asarray(state["slot_token"], dtype=np.int64)
        self.token_value_ = list(state["token_value"])
        self.protected_token_ = state["protected_token"]
        self.unknown_token_ = state.get("unknown_token")


class NumericalTokens:
    """Tokens of a numerical or datetime column: point masses, quantile bins, null.

    Parameters
    ----------
    meta : ColumnMetadata
    n_bins : int
        Most quantile bins; a value holding at least ``1 / n_bins`` of the rows becomes
        its own point-mass token.
    rare_threshold : int
        Every point mass and bin holds at least this many training rows.
    clip_quantile : float
        Values are clipped to the observed values with ``max(q * n, rare_threshold)`` rows
        beyond them (about the ``[q, 1 - q]`` quantiles) before binning.
    knots_per_bin : int
        Quantiles stored per bin for decoding (piecewise-linear quantile function).
    fine_bins : int, default 1
        Sub-bins per bin of the fine token (1: no fine token). The fine token of a value is
        ``floor(fine_bins * u)`` where ``u`` in [0, 1] is its place in its bin's quantile
        function; ``fine_bins`` itself is the token of values outside any bin.

    Attributes
    ----------
    points_ : ndarray of float, shape (P,)
        Point-mass values (tokens ``0 .. P-1``).
    knots_ : ndarray of float, shape (B, knots_per_bin)
        Each bin's quantiles, non-decreasing (tokens ``P .. P+B-1``).
    low_, high_ : float
        Clipping bounds (seconds since the epoch for datetimes).
    """

    kind = "numerical"

    def __init__(self, meta: ColumnMetadata, *, n_bins: int, rare_threshold: int, clip_quantile: float,
                 knots_per_bin: int = 17, fine_bins: int = 1):
        self.meta = meta
        self.n_bins = n_bins
        self.fine_bins = fine_bins
        self.rare_threshold = rare_threshold
        self.clip_quantile = clip_quantile
        self.knots_per_bin = knots_per_bin
        # The continuous encoder supplies the number <-> column conversions and rounding.
        self._codec = DatetimeEncoder(meta) if meta.kind == "datetime" else NumericalEncoder(meta)
        self.points_ = np.zeros(0)
        self.knots_ = np.zeros((0, knots_per_bin))
        self.low_ = self.high_ = 0.0

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def n_points(self) -> int:
        return len(self.points_)

    @property
    def vocabulary_size(self) -> int:
        return self.n_points + len(self.knots_) + int(self.meta.nullable)

    def null_token(self) -> int | None:
        return self.vocabulary_size - 1 if self.meta.nullable else None

    @property
    def has_fine(self) -> bool:
        """Whether the column has a fine token (``fine_bins`` > 1 and at least one bin)."""
        return self.fine_bins > 1 and len(self.knots_) > 0

    @property
    def fine_vocabulary_size(self) -> int:
        """Sub-bins, plus the token of values outside any bin (point masses, nulls)."""
        return self.fine_bins + 1

    def fit(self, series: pd.Series, rng: np.random.Generator) -> "NumericalTokens":
        if isinstance(self._codec, DatetimeEncoder):
            self._codec.fit_resolution(series)
        numbers = self._codec.to_numbers(series)
        present = numbers[~np.isnan(numbers)]
        self.low_, self.high_ = self._clipping_bounds(np.sort(present))
        present = np.clip(present, self.low_, self.high_)
        values, counts = np.unique(present, return_counts=True)
        is_point = (counts >= max(self.rare_threshold, len(present) / self.n_bins))
        self.points_ = values[is_point]
        rest = np.sort(present[~np.isin(present, self.points_)])
        n_bins = min(self.n_bins, len(rest) // max(self.rare_threshold, 1))
        if len(rest) and n_bins == 0 and not len(self.points_):
            n_bins = 1  # a tiny column: one bin spanning its values
        # (With point masses, fewer than rare_threshold leftover values get no bin of their
        # own: to_tokens maps them to the nearest point mass.)
        # Equal-frequency bins by rank, with each boundary moved to where the value changes so
        # that equal values share a bin; each bin keeps its own quantile function.
        bounds = np.linspace(0, len(rest), n_bins + 1).round().astype(int)
        bounds[1:-1] = np.searchsorted(rest, rest[np.minimum(bounds[1:-1], len(rest) - 1)], side="left")
        bounds = self._merge_small_bins(np.unique(bounds))
        grid = np.linspace(0, 1, self.knots_per_bin)
        self.knots_ = np.array([np.quantile(rest[a:b], grid) for a, b in zip(bounds[:-1], bounds[1:])
                                if b > a]).reshape(-1, self.knots_per_bin)
        return self

    def _clipping_bounds(self, ordered: np.ndarray) -> tuple[float, float]:
        """Observed values with at least ``max(clip_quantile * n, rare_threshold)`` rows beyond them.

        Real values (order statistics), so the column's rounding cannot snap a draw onto a more
        extreme one; the real minimum and maximum are emitted only when that many rows share them.
        """
        n = len(ordered)
        beyond = min(max(int(np.ceil(self.clip_quantile * n)), self.rare_threshold), (n - 1) // 2)
        return float(ordered[beyond]), float(ordered[n - 1 - beyond])

    def _merge_small_bins(self, bounds: np.ndarray) -> np.ndarray:
        """Remove bin boundaries until every bin holds at least ``rare_threshold`` rows."""
        bounds = list(bounds)
        while len(bounds) > 2:
            sizes = np.diff(bounds)
            smallest = int(np.argmin(sizes))
            if sizes[smallest] >= self.rare_threshold:
                break
            # Merge with the smaller neighbour (drop the boundary between them).
            left = sizes[smallest - 1] if smallest > 0 else np.inf
            right = sizes[smallest + 1] if smallest + 1 < len(sizes) else np.inf
            bounds.pop(smallest if left <= right else smallest + 1)
        return np.asarray(bounds)

    def to_tokens(self, series: pd.Series) -> np.ndarray:
        """``(n,)`` column -> ``(n,)`` int64 tokens (values outside the bounds are clipped)."""
        return self._tokens_of(*self._clipped(series))

    def _clipped(self, series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """The column as numbers clipped to the bounds (nulls at the lower one), and its null mask."""
        numbers = self._codec.to_numbers(series)
        missing = np.isnan(numbers)
        if missing.any() and not self.meta.nullable:
            raise ValueError(f"Column '{self.name}' has nulls but its metadata says it has none.")
        return np.clip(np.where(missing, self.low_, numbers), self.low_, self.high_), missing

    def _tokens_of(self, clipped: np.ndarray, missing: np.ndarray) -> np.ndarray:
        tokens = self.n_points + self._bin_of(clipped)
        if self.n_points:
            point = np.searchsorted(self.points_, clipped).clip(0, self.n_points - 1)
            is_point = self.points_[point] == clipped
            if len(self.knots_) == 0:  # only point masses: an unseen value takes the nearest one
                below = (point - 1).clip(0)
                point = np.where(np.abs(self.points_[below] - clipped) < np.abs(self.points_[point] - clipped),
                                 below, point)
                is_point = np.ones(len(clipped), dtype=bool)
            tokens = np.where(is_point, point, tokens)
        if self.meta.nullable:
            tokens = np.where(missing, self.null_token(), tokens)
        return tokens.astype(np.int64)

    def _bin_of(self, numbers: np.ndarray) -> np.ndarray:
        if len(self.knots_) == 0:
            return np.zeros(len(numbers), dtype=np.int64)
        # A value belongs to the last bin whose lowest value it reaches (gaps go to the lower bin).
        return np.searchsorted(self.knots_[1:, 0], numbers, side="right").astype(np.int64)

    def to_token_pair(self, series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """``(n,)`` column -> its ``(n,)`` tokens (as :meth:`to_tokens`) and ``(n,)`` int64 fine
        tokens in ``[0, fine_bins]`` (see the class). Only for :attr:`has_fine`.

        A value inside a bin gets the sub-bin of its place ``u`` in the bin's quantile function
        (the middle of the range of ``u`` where the function equals it, for a value several
        knots share); point masses and nulls get ``fine_bins``.
        """
        clipped, missing = self._clipped(series)
        tokens = self._tokens_of(clipped, missing)
        bins = tokens - self.n_points
        in_bin = np.flatnonzero((bins >= 0) & (bins < len(self.knots_)))
        fine = np.full(len(tokens), self.fine_bins, dtype=np.int64)
        for start in range(0, len(in_bin), _CHUNK):  # (rows, knots) at a time, not the whole column
            rows = in_bin[start:start + _CHUNK]
            u = _place_in_bins(clipped[rows], self.knots_[bins[rows]])
            fine[rows] = np.minimum((u * self.fine_bins).astype(np.int64), self.fine_bins - 1)
        return tokens, fine

    def from_tokens(self, tokens: np.ndarray, rng: np.random.Generator,
                    bounds: tuple[float, float] | None = None, fine: np.ndarray | None = None) -> pd.Series:
        """``(n,)`` tokens -> column; bin tokens draw from the bin's quantile function.

        ``bounds`` (numbers, seconds for datetimes) restricts the draw inside each bin to
        that range, for range conditions. ``fine`` (``(n,)`` fine tokens) restricts it to each
        row's sub-bin; a sub-bin outside ``bounds``, or the "not in a bin" token drawn with a
        bin, leaves the draw to the whole bin (within ``bounds``).
        """
        tokens = np.asarray(tokens, dtype=np.int64)
        numbers = np.full(len(tokens), np.nan)
        is_point = tokens < self.n_points
        numbers[is_point] = self.points_[tokens[is_point]]
        in_bin = (tokens >= self.n_points) & (tokens < self.n_points + len(self.knots_))
        if in_bin.any():
            sub = None if fine is None else np.asarray(fine, dtype=np.int64)[in_bin]
            numbers[in_bin] = self._draw_in_bins(tokens[in_bin] - self.n_points, rng, bounds, sub)
        if bounds is not None:
            numbers = np.where(np.isnan(numbers), numbers, np.clip(numbers, *bounds))
        return self._codec.from_numbers(numbers)

    def _draw_in_bins(self, bins: np.ndarray, rng: np.random.Generator,
                      bounds: tuple[float, float] | None, fine: np.ndarray | None = None) -> np.ndarray:
        """Inverse-CDF draw inside each row's bin (vectorised piecewise-linear interpolation),
        within its sub-bin where ``fine`` gives one."""
        grid = np.linspace(0, 1, self.knots_per_bin)
        u_low, u_high = np.zeros(len(self.knots_)), np.ones(len(self.knots_))
        if bounds is not None:
            u_low = np.array([np.interp(bounds[0], k, grid) for k in self.knots_])
            u_high = np.array([np.interp(bounds[1], k, grid, left=0.0, right=1.0) for k in self.knots_])
        low, high = u_low[bins], u_high[bins]
        if fine is not None:
            sub_low = np.clip(fine, 0, self.fine_bins) / self.fine_bins
            sub_high = (np.clip(fine, 0, self.fine_bins) + 1) / self.fine_bins
            usable = (fine < self.fine_bins) & (np.maximum(low, sub_low) < np.minimum(high, sub_high))
            low = np.where(usable, np.maximum(low, sub_low), low)
            high = np.where(usable, np.minimum(high, sub_high), high)
        u = low + rng.random(len(bins)) * (high - low)
        position = u * (self.knots_per_bin - 1)
        left = np.minimum(position.astype(np.int64), self.knots_per_bin - 2) if self.knots_per_bin > 1 else 0
        frac = position - left
        knots = self.knots_[bins]
        return knots[np.arange(len(bins)), left] + frac * (knots[np.arange(len(bins)), left + 1]
                                                           - knots[np.arange(len(bins)), left])

    def allowed_tokens(self, condition: Any) -> tuple[np.ndarray, tuple[float, float] | None]:
        """Tokens meeting ``condition`` and the numeric bounds to draw inside bins.

        ``condition`` is a value (``40``), a ``(low, high)`` range with ``None`` for an
        open side (inclusive, in the column's units: numbers, or datetimes / ISO strings;
        a two-element list is read as a range too), or None for null.

        Raises
        ------
        ValueError
            If the range is empty or lies outside what the model generates (the
            message gives the model's range).
        """
        mask = np.zeros(self.vocabulary_size, dtype=bool)
        if condition is None:
            if not self.meta.nullable:
                raise ValueError(f"Condition asks for nulls in column '{self.name}', which has none.")
            mask[self.null_token()] = True
            return mask, None
        if isinstance(condition, (tuple, list)) and len(condition) == 2:
            low, high = (self._number(v, default) for v, default in zip(condition, (-np.inf, np.inf)))
        else:
            low = high = self._number(condition, None)
        low, high = self._round_inward(max(low, self.low_), min(high, self.high_))
        if low > high:
            shown = [self._codec.from_numbers(np.array([v])).iloc[0] for v in (self.low_, self.high_)]
            raise ValueError(
                f"Condition {condition!r} on column '{self.name}' selects no value this model generates; "
                f"its values lie in [{shown[0]}, {shown[1]}]."
            )
        tolerance = 1e-9 * max(1.0, abs(low) if np.isfinite(low) else 1.0, abs(high) if np.isfinite(high) else 1.0)
        if self.n_points:
            mask[: self.n_points] = (self.points_ >= low - tolerance) & (self.points_ <= high + tolerance)
        if len(self.knots_):
            mask[self.n_points : self.n_points + len(self.knots_)] = (
                (self.knots_[:, -1] >= low - tolerance) & (self.knots_[:, 0] <= high + tolerance))
        if not mask.any():
            raise ValueError(f"Condition {condition!r} on column '{self.name}' falls between the values "
                             "this model generates; widen the range.")
        return mask, (low, high)

    def _number(self, value: Any, default: float | None) -> float:
        if value is None and default is not None:
            return default
        if self.meta.kind == "datetime":
            return pd.Timestamp(value).value / 1e9
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"Condition value {value!r} on numerical column '{self.name}' is not a number.") from None

    def _round_inward(self, low: float, high: float) -> tuple[float, float]:
        """Shrink [low, high] to values that survive the column's rounding."""
        step = None
        if self.meta.kind == "datetime":
            step = self._codec.resolution_seconds_ or None
        elif self.meta.decimals is not None:
            step = 10.0 ** -self.meta.decimals
        if step is None:
            return low, high
        digits = self.meta.decimals if self.meta.kind != "datetime" else 0
        # Round the products too: ceil(3) * 0.1 is 0.30000000000000004, which would miss 0.3.
        low_r = np.round(np.ceil(np.round(low / step, 6)) * step, digits) if np.isfinite(low) else low
        high_r = np.round(np.floor(np.round(high / step, 6)) * step, digits) if np.isfinite(high) else high
        return float(low_r), float(high_r)

    def state(self) -> dict:
        state = {"points": self.points_.tolist(), "knots": self.knots_.tolist(), "low": self.low_, "high": self.high_}
        if isinstance(self._codec, DatetimeEncoder):
            state["resolution_seconds"] = self._codec.resolution_seconds_
        return state

    def load_state(self, state: dict) -> None:
        self.points_ = np.asarray(state["points"], dtype=float)
        self.knots_ = np.asarray(state["knots"], dtype=float).reshape(-1, self.knots_per_bin)
        self.low_, self.high_ = float(state["low"]), float(state["high"])
        if isinstance(self._codec, DatetimeEncoder):
            self._codec.resolution_seconds_ = state["resolution_seconds"]


# Rows placed in their bins at a time by NumericalTokens.to_token_pair.
_CHUNK = 262_144


def _place_in_bins(values: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """``u`` in [0, 1] with ``Q(u) = value`` for each row's piecewise-linear quantile function.

    ``values`` is ``(n,)``, ``knots`` ``(n, K)`` (each row non-decreasing, the quantiles at
    ``u = 0, 1/(K-1), ..., 1``). Where several knots equal the value (a flat stretch of ``Q``:
    a value many rows share) the middle of that stretch; between knots, linear.
    """
    n, k = knots.shape
    if n == 0:
        return np.zeros(0)
    grid = np.linspace(0, 1, k)
    left = (knots < values[:, None]).sum(axis=1)  # first knot >= value
    right = (knots <= values[:, None]).sum(axis=1)  # first knot > value
    rows = np.arange(n)
    # On knots: the middle of the stretch [grid[left], grid[right - 1]].
    on_knot = right > left
    u = np.where(on_knot, (grid[np.minimum(left, k - 1)] + grid[np.clip(right - 1, 0, k - 1)]) / 2, 0.0)
    # Strictly between knots left - 1 and left: linear.
    between = ~on_knot & (left > 0) & (left < k)
    a, b = np.clip(left - 1, 0, k - 1), np.clip(left, 0, k - 1)
    span = knots[rows, b] - knots[rows, a]
    frac = np.divide(values - knots[rows, a], span, out=np.zeros(n), where=span > 0)
    u = np.where(between, grid[a] + frac * (grid[b] - grid[a]), u)
    u = np.where(~on_knot & (left >= k), 1.0, u)  # above the bin's top (a gap between bins)
    return np.clip(u, 0.0, 1.0)
