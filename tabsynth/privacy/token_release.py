"""The discrete view (:class:`~tabsynth.encoding.TokenTable`) built from DP-released statistics only.

The non-private :meth:`TokenTable.fit` reads exact counts, order statistics and quantiles;
here every value-dependent fact comes from a :class:`~tabsynth.privacy.mechanisms.Releaser`
(or was declared public in the metadata):

* categorical: the category set by partition selection (unless declared), most frequent
  first; values outside it share one *other* token (strings decode to ``_RARE_``, other
  values to the most frequent released category);
* numerical and datetime: point masses (a value holding at least ``1 / n_bins`` of the rows)
  by partition selection on exact values; the other values by partition selection on
  *cells* of a public grid (log-linear for numbers, 16 cells per octave and single integers
  near zero; one day for datetimes); the released cells' noisy counts form a DP CDF whose
  quantiles give the clipping bounds (``clip_quantile``), the equal-frequency bins and each
  bin's decoding knots; decimals come from the dtype (integers) or the metadata;
* null shares and every token's frequency: the same noisy counts (they start the network's
  output biases); ``key`` columns' rows per key from a noisy histogram over 1..``MAX_GROUP``.

Each column costs one or two histograms; all share one noise level, set from the budget
by :func:`~tabsynth.privacy.accounting.preprocessing_noise_std`.
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings

import numpy as np
import pandas as pd

from tabsynth.encoding.numerical import DatetimeEncoder, NumericalEncoder
from tabsynth.encoding.token_table import TokenTable
from tabsynth.encoding.tokens import PROTECTED_CATEGORY
from tabsynth.metadata import ColumnMetadata, Metadata
from tabsynth.privacy.accounting import PrivacyLedger, preprocessing_noise_std
from tabsynth.privacy.mechanisms import Releaser

# Cells per octave of the numerical grid (relative width 1/16 = 6%).
CELLS_PER_OCTAVE = 16
# Values closer to 0 than this share the zero cell.
_SMALLEST = 2.0 ** -30
# Rows per key above this are counted as this many (the histogram's public domain).
MAX_GROUP = 100
_DAY = 86_400.0
_TIME_CODES = re.compile(r"%[HIMSfpXcTRrs]")


@dataclasses.dataclass
class TokenRelease:
    """What :func:`release_token_table` returns.

    Attributes
    ----------
    metadata : Metadata
        The public schema with the released categories and bounds filled in (saved with the model).
    encoder : TokenTable
        Ready to transform; never fitted on raw values.
    token_counts : list of ndarray
        Noisy count of every token of every token column (for the output-bias start; a fine
        token's are uniform, read from nothing).
    notes : list of str
        Facts the release took from the data without noise (datetime resolution), and
        columns that lost values at this budget.
    column_states : dict
        Each column's released facts by name, as the token table loaded them (categorical:
        ``token_value``, ``protected_token``; numerical / datetime: ``points``, ``knots``,
        ``low``, ``high``; key: ``rows_per_key``, ``key_share``); other views build on them.
    """

    metadata: Metadata
    encoder: TokenTable
    token_counts: list[np.ndarray]
    notes: list[str]
    column_states: dict


def count_mechanisms(schema: Metadata) -> tuple[float, int]:
    """(sum of squared sensitivities, number of partition selections) a release will run."""
    squares, selections = 1.0, 0  # the row count
    for meta in schema:
        if meta.kind == "categorical":
            squares += 1
            selections += 0 if meta.categories else 1
        elif meta.kind in ("numerical", "datetime"):
            squares += 3  # point masses, value range, quantile cells
            selections += 2
        elif meta.kind == "key":
            squares += 2  # a row moves one key between two group sizes
    return squares, selections


def release_token_table(frame: pd.DataFrame, schema: Metadata, ledger: PrivacyLedger, rng: np.random.Generator,
                        *, n_bins: int, clip_quantile: float, knots_per_bin: int = 17,
                        fine_bins: int | dict[str, int] = 1) -> TokenRelease:
    """Run the preprocessing mechanisms on ``frame`` and build the token table from their output.

    Parameters
    ----------
    frame : DataFrame
        The training table (checked against ``schema``).
    schema : Metadata
        From :func:`~tabsynth.privacy.schema.public_schema`.
    ledger : PrivacyLedger
        Every mechanism is recorded here.
    rng : numpy.random.Generator
        The noise source.
    n_bins, clip_quantile, knots_per_bin, fine_bins
        As in :class:`~tabsynth.encoding.TokenTable`. A fine token is a function of the value
        and the released knots only, so it costs no budget.

    Returns
    -------
    TokenRelease

    Raises
    ------
    ValueError
        If a categorical column with numbers or booleans has no category frequent enough
        to release (the message says to declare its categories), or a column has nulls its
        schema does not allow.
    """
    frame = schema.check_frame(frame, what="training table")
    squares, selections = count_mechanisms(schema)
    releaser = Releaser(ledger, preprocessing_noise_std(ledger.config, squares), selections, rng)
    n_hat = releaser.count(len(frame))
    columns, states, counts, notes = [], {}, [], []
    for meta in schema:
        series = frame[meta.name]
        if meta.nullable is False and series.isna().any():
            raise ValueError(f"Column '{meta.name}' has nulls but its metadata says it has none.")
        if meta.kind == "categorical":
            meta, state, token_counts = _release_categorical(meta, series, releaser, notes)
        elif meta.kind in ("numerical", "datetime"):
            meta, state, token_counts = _release_numerical(meta, series, releaser, n_hat, n_bins, clip_quantile,
                                                           knots_per_bin, notes)
        elif meta.kind == "key":
            state, token_counts = _release_key(meta, series, releaser), None
        else:  # id (fresh keys from 1, independent of the training keys) or a declared constant
            state, token_counts = ({"first_key": 1} if meta.kind == "id" else {}), None
        columns.append(meta)
        states[meta.name] = state
        if token_counts is not None:
            counts.append(token_counts)
    metadata = Metadata(columns)
    encoder = TokenTable.from_state(metadata, {"view": "tokens", "n_bins": n_bins, "rare_threshold": 1,
                                               "clip_quantile": clip_quantile, "fine_bins": fine_bins,
                                               "columns": states})
    return TokenRelease(metadata, encoder, _with_fine_counts(encoder, counts), notes, states)


def _with_fine_counts(encoder: TokenTable, counts: list[np.ndarray]) -> list[np.ndarray]:
    """Token counts for every token column: a fine token's start uniform (its sub-bins cut
    each bin's quantile function evenly, so uniform is close and reads nothing from the data)."""
    by_column = dict(zip(encoder.columns_, counts))
    sizes = dict(zip(encoder.token_columns_, encoder.vocabulary_sizes_))
    return [by_column[c] if c in by_column else np.ones(sizes[c]) for c in encoder.token_columns_]


# ---------------------------------------------------------------------- categorical
def _release_categorical(meta: ColumnMetadata, series: pd.Series, releaser: Releaser, notes: list[str]):
    present = series.dropna()
    if meta.categories:  # declared public: only the frequencies are noised
        lookup = {_key(c): i for i, c in enumerate(meta.categories)}
        codes = np.array([lookup.get(_key(v), len(meta.categories)) for v in series.to_numpy(dtype=object)])
        codes[series.isna().to_numpy()] = len(meta.categories) + 1
        noisy = releaser.histogram(codes, len(meta.categories) + 2, column=meta.name, what="category frequencies")
        categories, category_counts = list(meta.categories), noisy[: len(meta.categories)]
        other = None
        if (codes == len(meta.categories)).any():
            raise ValueError(f"Column '{meta.name}' holds values outside the categories its metadata declares; "
                             "add them to the metadata or drop those rows.")
        null_count = noisy[-1]
    else:
        keys = [_key(v) for v in present.to_numpy(dtype=object)] + [("null",)] * int(series.isna().sum())
        released = releaser.select_partitions(keys, column=meta.name, what="category set")
        null_count = released.pop(("null",), 0.0)
        categories = [key[1] for key in released]
        category_counts = np.array(list(released.values()), dtype=float)
        other = _other_value(meta, categories)
        if not categories and other is None:
            raise ValueError(
                f"Column '{meta.name}': no category is held by enough rows to be released at this epsilon "
                f"(threshold {releaser.threshold:.0f} noisy rows); declare its categories in the metadata, "
                "raise epsilon, or drop the column.")
        if not categories:
            notes.append(f"DP: column '{meta.name}': no category crossed the release threshold; it decodes to "
                         f"{other!r} only.")
    if categories:
        token_value = list(categories) + ([other] if other is not None else [])
        token_counts = list(category_counts) + ([1.0] if other is not None else [])
        slot_token = list(range(len(categories)))
        protected = len(categories) if other is not None else None
    else:  # nothing released: one token for every value, listed as the column's only category
        categories, token_value, token_counts, slot_token, protected = [other], [other], [1.0], [0], 0
    if meta.nullable:
        slot_token.append(len(token_value))
        token_value.append(None)
        token_counts.append(null_count)
    state = {"slot_token": slot_token, "token_value": token_value, "protected_token": protected,
             "unknown_token": protected}
    return dataclasses.replace(meta, categories=categories), state, np.asarray(token_counts, dtype=float)


def _other_value(meta: ColumnMetadata, categories: list):
    """What the token of unreleased values decodes to: ``_RARE_`` for text, else the most frequent release."""
    if meta.dtype in ("object", "str", "string") or meta.dtype.startswith(("string", "category")):
        return PROTECTED_CATEGORY
    return categories[0] if categories else None


def _key(value):
    if isinstance(value, np.generic):
        value = value.item()
    return (type(value) is bool, value)


# ---------------------------------------------------------------------- numerical / datetime
def _release_numerical(meta: ColumnMetadata, series: pd.Series, releaser: Releaser, n_hat: float, n_bins: int,
                       clip_quantile: float, knots_per_bin: int, notes: list[str]):
    is_datetime = meta.kind == "datetime"
    codec = DatetimeEncoder(meta) if is_datetime else NumericalEncoder(meta)
    resolution = None
    if is_datetime:
        resolution = _datetime_resolution(meta, codec, series)
        notes.append(f"DP: column '{meta.name}': datetime resolution "
                     f"{ {86_400.0: 'one day', 1.0: 'one second', 0.0: 'none'}[resolution] } taken from the data.")
    numbers = codec.to_numbers(series)
    present = numbers[~np.isnan(numbers)]
    declared = _declared_bounds(meta)
    if declared is not None:
        present = np.clip(present, *declared)
    integer = meta.kind == "numerical" and meta.is_integer
    # Point masses: exact values held by at least 1 / n_bins of the rows (or the threshold).
    keys = np.concatenate([present, np.full(int(np.isnan(numbers).sum()), np.nan)])
    points = releaser.select_partitions(keys, column=meta.name, what="point masses", minimum_count=n_hat / n_bins)
    null_count = sum(c for v, c in points.items() if v != v)  # the NaN key stands for null
    points = {v: c for v, c in points.items() if v == v}
    point_values = np.array(sorted(points), dtype=float)
    point_counts = np.array([points[v] for v in sorted(points)], dtype=float)
    rest = present[~np.isin(present, point_values)]
    # The other values, in two steps on a public grid: partition selection on coarse cells
    # (octaves; 32-day blocks for datetimes) gives the range without reading its extremes,
    # then one noisy count per fine cell inside the released coarse cells (a public domain
    # now: no threshold, so thin tails keep their noisy mass) gives a DP CDF.
    grid = _DAY_GRID if is_datetime else (_INTEGER_GRID if integer else _FLOAT_GRID)
    fine = grid.fine(rest)
    coarse = releaser.select_partitions(grid.coarse(fine), column=meta.name, what="value range")
    cells = {}
    if coarse:
        domain = np.concatenate([grid.fine_cells(c) for c in sorted(coarse)])  # sorted fine cell ids
        position = np.searchsorted(domain, fine)
        inside = (position < len(domain)) & (domain[np.minimum(position, len(domain) - 1)] == fine)
        noisy = releaser.histogram(np.where(inside, position, len(domain)), len(domain), column=meta.name,
                                   what="quantile cells")
        cells = _fine_masses(domain, noisy, grid, coarse)
    knots = np.zeros((0, knots_per_bin))
    low = high = float(point_values[0]) if len(point_values) else 0.0
    if cells and sum(cells.values()) > 0:
        order = sorted(cells, key=lambda c: grid.edges(c)[0])
        edges = np.array([grid.edges(c) for c in order], dtype=float)  # (C, 2)
        mass = np.array([cells[c] for c in order], dtype=float)
        low, high = _quantiles(edges, mass, np.array([clip_quantile, 1 - clip_quantile]))
        low, high = float(low), float(high)
        if declared is not None:
            low, high = max(low, declared[0]), min(high, declared[1])
        grid = np.linspace(0, 1, knots_per_bin)
        bins = np.arange(n_bins)[:, None] + grid[None, :]  # (n_bins, K) in units of one bin's share
        knots = _quantiles(edges, mass, clip_quantile + (1 - 2 * clip_quantile) * bins.ravel() / n_bins)
        knots = np.clip(knots.reshape(n_bins, knots_per_bin), low, high)
        knots = knots[np.r_[True, np.any(np.diff(knots, axis=0) != 0, axis=1)]]  # bins that differ
        bin_counts = np.full(len(knots), mass.sum() / max(len(knots), 1))
    else:
        bin_counts = np.zeros(0)
        if not len(point_values):
            fallback = declared[0] if declared is not None else 0.0
            point_values, point_counts = np.array([fallback]), np.array([1.0])
            low = high = fallback
            notes.append(f"DP: column '{meta.name}': no value crossed the release threshold; it decodes to "
                         f"{fallback!r} only (declare its bounds, or raise epsilon).")
    if len(point_values):
        low, high = min(low, float(point_values.min())), max(high, float(point_values.max()))
    state = {"points": point_values.tolist(), "knots": knots.tolist(), "low": low, "high": high}
    if is_datetime:
        state["resolution_seconds"] = resolution
        bounds = {"minimum": _iso(low), "maximum": _iso(high)}
    else:
        bounds = {"minimum": low, "maximum": high}
    token_counts = np.concatenate([point_counts, bin_counts, [null_count] if meta.nullable else []])
    return dataclasses.replace(meta, **bounds), state, token_counts


def _fine_masses(domain: np.ndarray, noisy: np.ndarray, grid: "_Grid", coarse: dict) -> dict:
    """Mass of every fine cell: each released coarse cell's noisy count, shared among its fine cells.

    Post-processing of two releases (no privacy cost). Within a coarse cell the fine cells'
    noisy counts are made consistent with the coarse cell's released count by Norm-Sub
    (Wang et al., "Locally Differentially Private Frequency Estimation with Consistency",
    NDSS 2020): subtract the one offset ``tau >= 0`` from every count and clip at zero, with
    ``tau`` chosen so the masses sum to the coarse count (the Euclidean projection onto that
    simplex, Duchi et al., ICML 2008). On small tables (a few dozen rows per fine cell against a
    noise of about 80) ``tau`` stays small and every populated cell keeps a share, so the DP
    range spans every released coarse cell. Empty cells keep part of their clipped noise (0.4
    sigma each before the offset): on all 32,561 Adult rows at epsilon 1 the octave of ages
    64-127 puts a mean 150 of its 1,544 rows beyond age 91, a bias of this noise level, not a
    leak. A cell whose positive counts sum to less than its released count scales them up.
    (An earlier rule gave all the mass to the cells above 3 sigma when they held half of it:
    on 3,000 Adult rows at epsilon 1 one noise draw in 40 put the octave of ages 32-63 into
    ages 32-39, cutting the released age range at 39.)

    Parameters
    ----------
    domain : (F,) int array
        Sorted fine cell ids inside the released coarse cells.
    noisy : (F,) float array
        Their noisy counts (rows).
    grid : _Grid
        The public grid (maps fine cells to coarse cells).
    coarse : dict
        ``{coarse cell id: released noisy count}``.

    Returns
    -------
    dict
        ``{fine cell id: mass (rows)}`` for the cells with positive mass.
    """
    owner = grid.coarse(domain)  # (F,) coarse cell of each fine cell
    masses = {}
    for block, total in coarse.items():
        counts = noisy[owner == block]
        weights = _norm_sub(counts, total)
        for cell, mass in zip(domain[owner == block], total * weights / weights.sum()):
            if mass > 0:
                masses[int(cell)] = float(mass)
    return masses


def _norm_sub(counts: np.ndarray, total: float) -> np.ndarray:
    """``max(counts - tau, 0)`` with ``tau >= 0`` such that it sums to ``total`` (> 0), or the
    positive counts when they sum to no more than ``total`` (uniform when none is positive)."""
    positive = np.maximum(counts, 0.0)
    if positive.sum() <= total:
        return positive if positive.sum() > 0 else np.ones_like(counts)
    descending = np.sort(counts)[::-1]
    # tau_k: the offset that makes the k largest counts sum to total; the right k is the
    # largest one whose k-th count still exceeds its tau_k.
    taus = (np.cumsum(descending) - total) / np.arange(1, len(counts) + 1)
    k = np.nonzero(descending > taus)[0][-1]
    return np.maximum(counts - taus[k], 0.0)


def _declared_bounds(meta: ColumnMetadata) -> tuple[float, float] | None:
    if meta.minimum is None or meta.maximum is None:
        return None
    if meta.kind == "datetime":
        return pd.Timestamp(meta.minimum).value / 1e9, pd.Timestamp(meta.maximum).value / 1e9
    return float(meta.minimum), float(meta.maximum)


def _datetime_resolution(meta: ColumnMetadata, codec: DatetimeEncoder, series: pd.Series) -> float:
    if meta.datetime_format is not None:
        return 1.0 if _TIME_CODES.search(meta.datetime_format) else _DAY
    codec.fit_resolution(series)
    return codec.resolution_seconds_


def _iso(seconds: float) -> str:
    return pd.Timestamp(int(round(seconds * 1e9))).isoformat()


def _quantiles(edges: np.ndarray, mass: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles of the distribution uniform inside each cell ``edges[c] = (a, b)`` with weight ``mass[c]``."""
    cdf = np.concatenate([[0.0], np.cumsum(mass)]) / mass.sum()
    # Piecewise-linear CDF through (a_c, cdf_c) and (b_c, cdf_{c+1}); gaps between cells are flat.
    xs = np.ravel(np.column_stack([edges[:, 0], edges[:, 1]]))
    ys = np.ravel(np.column_stack([cdf[:-1], cdf[1:]]))
    return np.interp(np.clip(levels, 0, 1), ys, xs)


def _float_cells(values: np.ndarray) -> np.ndarray:
    """Cell index of each value on the signed log-linear grid (0 = the zero cell)."""
    magnitude = np.abs(values)
    octave = np.floor(np.log2(np.maximum(magnitude, _SMALLEST)))
    start = 2.0 ** octave
    sub = np.minimum(np.floor((magnitude - start) / (start / CELLS_PER_OCTAVE)), CELLS_PER_OCTAVE - 1)
    index = (octave + 1 - math.log2(_SMALLEST)) * CELLS_PER_OCTAVE + sub + 1
    index = np.where(magnitude < _SMALLEST, 0, index)
    return (np.sign(values) * index).astype(np.int64)


def _float_edges(cell: int) -> tuple[float, float]:
    if cell == 0:
        return -_SMALLEST, _SMALLEST
    index = abs(cell) - 1
    octave = index // CELLS_PER_OCTAVE - 1 + math.log2(_SMALLEST)
    start = 2.0 ** octave
    a, b = start + (index % CELLS_PER_OCTAVE) * start / CELLS_PER_OCTAVE, start + (
        index % CELLS_PER_OCTAVE + 1) * start / CELLS_PER_OCTAVE
    return (a, b) if cell > 0 else (-b, -a)


def _integer_cells(values: np.ndarray) -> np.ndarray:
    """Single integers below ``2 * CELLS_PER_OCTAVE`` in magnitude, then log-linear cells of whole integers."""
    ints = np.round(values).astype(np.int64)
    magnitude = np.abs(ints)
    first_octave = int(math.log2(2 * CELLS_PER_OCTAVE))  # cells of width >= 2 start here
    octave = np.floor(np.log2(np.maximum(magnitude, 1))).astype(np.int64)
    width = np.maximum(2 ** octave // CELLS_PER_OCTAVE, 1)
    sub = (magnitude - 2 ** octave) // width
    large = 2 * CELLS_PER_OCTAVE + (octave - first_octave) * CELLS_PER_OCTAVE + sub
    index = np.where(magnitude < 2 * CELLS_PER_OCTAVE, magnitude, large)
    return np.sign(ints) * index


def _integer_edges(cell: int) -> tuple[float, float]:
    """Decoding range of an integer cell: about ``[first - 0.5, last + 0.5]`` so rounding gives its integers."""
    index = abs(cell)
    if index < 2 * CELLS_PER_OCTAVE:
        first = last = index
    else:
        offset = index - 2 * CELLS_PER_OCTAVE
        octave = int(math.log2(2 * CELLS_PER_OCTAVE)) + offset // CELLS_PER_OCTAVE
        width = 2 ** octave // CELLS_PER_OCTAVE
        first = 2 ** octave + (offset % CELLS_PER_OCTAVE) * width
        last = first + width - 1
    if cell < 0:
        first, last = -last, -first
    # Just inside the half-way points, so np.round never lands on a neighbouring cell's integer.
    return first - 0.4999, last + 0.4999


class _Grid:
    """A public two-level grid: ``fine(values)`` cell ids, ``coarse(fine ids)``, the fine cells of
    a coarse one, and a fine cell's decoding range ``edges``."""

    def __init__(self, fine, edges, coarse, fine_cells):
        self.fine, self.edges, self.coarse, self._fine_cells = fine, edges, coarse, fine_cells

    def fine_cells(self, coarse: int) -> np.ndarray:
        return np.asarray(self._fine_cells(int(coarse)), dtype=np.int64)


def _float_coarse(fine: np.ndarray) -> np.ndarray:
    return np.sign(fine) * np.where(fine == 0, 0, (np.abs(fine) - 1) // CELLS_PER_OCTAVE + 1)


def _float_fine_cells(coarse: int) -> list[int]:
    if coarse == 0:
        return [0]
    first = (abs(coarse) - 1) * CELLS_PER_OCTAVE + 1
    cells = list(range(first, first + CELLS_PER_OCTAVE))
    return sorted(cells) if coarse > 0 else sorted(-c for c in cells)


def _integer_coarse(fine: np.ndarray) -> np.ndarray:
    """Octave of the integers a fine cell holds, +1 (0 for the integer 0), signed."""
    index = np.abs(fine)
    small = index < 2 * CELLS_PER_OCTAVE
    octave_small = np.floor(np.log2(np.maximum(index, 1))).astype(np.int64) + 1
    octave_large = int(math.log2(2 * CELLS_PER_OCTAVE)) + (index - 2 * CELLS_PER_OCTAVE) // CELLS_PER_OCTAVE + 1
    return np.sign(fine) * np.where(index == 0, 0, np.where(small, octave_small, octave_large))


def _integer_fine_cells(coarse: int) -> list[int]:
    if coarse == 0:
        return [0]
    octave = abs(coarse) - 1
    first_large = int(math.log2(2 * CELLS_PER_OCTAVE))
    if octave < first_large:
        cells = list(range(2 ** octave, 2 ** (octave + 1)))
    else:
        first = 2 * CELLS_PER_OCTAVE + (octave - first_large) * CELLS_PER_OCTAVE
        cells = list(range(first, first + CELLS_PER_OCTAVE))
    return sorted(cells) if coarse > 0 else sorted(-c for c in cells)


_BLOCK_DAYS = 32


def _day_cells(seconds: np.ndarray) -> np.ndarray:
    return np.floor(seconds / _DAY).astype(np.int64)


def _day_edges(cell: int) -> tuple[float, float]:
    return cell * _DAY, (cell + 1) * _DAY - 1e-3


_FLOAT_GRID = _Grid(_float_cells, _float_edges, _float_coarse, _float_fine_cells)
_INTEGER_GRID = _Grid(_integer_cells, _integer_edges, _integer_coarse, _integer_fine_cells)
_DAY_GRID = _Grid(_day_cells, _day_edges, lambda fine: np.floor_divide(fine, _BLOCK_DAYS),
                  lambda block: list(range(block * _BLOCK_DAYS, (block + 1) * _BLOCK_DAYS)))


# ---------------------------------------------------------------------- keys
def _release_key(meta: ColumnMetadata, series: pd.Series, releaser: Releaser) -> dict:
    """Rows per key from a noisy histogram over the public sizes 1..MAX_GROUP (sensitivity sqrt 2)."""
    sizes = np.minimum(series.value_counts(dropna=True).to_numpy(), MAX_GROUP)
    noisy = releaser.histogram(sizes - 1, MAX_GROUP, column=meta.name, what="rows per key",
                               sensitivity=math.sqrt(2.0))
    if noisy.sum() <= 0:
        noisy[0] = 1.0
        warnings.warn(f"DP: column '{meta.name}': no group size crossed the noise; every key gets one row.",
                      UserWarning, stacklevel=3)
    keep = noisy > 0
    return {"first_key": 1, "rows_per_key": (np.flatnonzero(keep) + 1).tolist(),
            "key_share": (noisy[keep] / noisy[keep].sum()).tolist()}
