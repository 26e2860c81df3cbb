"""Fidelity: does the synthetic table look like the real one, column by column and pair by pair?

Per column (``details["columns"]``)
    * KS complement, ``1 - D`` with ``D`` the two-sample Kolmogorov-Smirnov statistic
      (numerical and datetime columns; nulls dropped first);
    * TV complement, ``1 - 0.5 * sum_k |p_real(k) - p_synth(k)|`` over the categories of
      both tables (categorical columns; nulls dropped first);
    * null rates and their difference; category coverage (share of the real table's
      categories the synthetic table contains) or range coverage (share of the real
      ``[min, max]`` that the synthetic ``[min, max]`` overlaps, in [0, 1]).

Per pair of columns (``details["pairs"]``)
    * correlation similarity ``1 - |r_real - r_synth| / 2`` (Pearson ``r`` on the rows
      where both are present) when both columns are numerical or datetime;
    * contingency similarity ``1 - TV`` between the joint frequency tables otherwise,
      nulls counted as a category. A numerical or datetime column in such a pair is cut
      into 10 equal-width bins, each table on its own range, exactly as SDMetrics'
      QualityReport (0.32) does (``PAIR_BIN_EDGES = "sdmetrics"``, the default).

Known artefact of that definition: one synthetic outlier, or a sample whose maximum
differs, moves every bin edge; on the credit table a resample of real holdout rows
scores 0.87 on pair trends that way against 0.98 when both tables are cut on the real
table's bins. ``edges="real"`` (:func:`bin_codes`, :func:`pair_scores`) gives that
variant; the default stays with SDMetrics so the figures can be cross-checked.

These are the KSComplement, TVComplement, CorrelationSimilarity and
ContingencySimilarity metrics of SDMetrics (DataCebo, https://docs.sdv.dev/sdmetrics),
reimplemented so that ``fidelity.column_shapes`` and ``fidelity.pair_trends`` match
the "Column Shapes" and "Column Pair Trends" of its QualityReport (checked by
``tests/integration/test_sdmetrics_crosscheck.py``). Detection AUC is in
:mod:`tabsynth.evaluation.detection`.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from tabsynth.evaluation.detection import detection
from tabsynth.evaluation.metrics import Metric
from tabsynth.evaluation.report import Section
from tabsynth.evaluation.tables import EvaluationTables

# Equal-width bins of a numerical column inside a contingency pair (SDMetrics: numpy's default 10).
PAIR_BINS = 10
# Whose range the bins span: "real" (both tables cut on the real table's bins) or
# "sdmetrics" (each table on its own range, as SDMetrics' QualityReport does). See bin_codes.
PAIR_BIN_EDGES = "sdmetrics"
# SDMetrics rounds numbers to 14 decimals before the KS test so float noise does not count.
KS_DECIMALS = 14
WORST_PAIRS = 5
# Pairs counted in fidelity.pair_trends, as in SDMetrics' QualityReport (0.32 defaults): a
# numerical pair when the real |Pearson r| exceeds 0.5, another pair when the real Cramér's V
# exceeds 0.3. Pairs that are unrelated in the real data stay in details["pairs"] but do not
# dilute the average (when no pair qualifies, the average is over all pairs).
REAL_CORRELATION_THRESHOLD = 0.5
REAL_ASSOCIATION_THRESHOLD = 0.3
# Verdict thresholds. "good" needs all three; "poor" follows from any one.
GOOD_COLUMN_SHAPES, GOOD_PAIR_TRENDS, GOOD_DETECTION_AUC = 0.90, 0.90, 0.70
POOR_COLUMN_SHAPES, POOR_PAIR_TRENDS, POOR_DETECTION_AUC = 0.75, 0.75, 0.90


# ---------------------------------------------------------------- per-column math (pure)
def ks_complement(real: np.ndarray, synthetic: np.ndarray) -> float:
    """``1 -`` the two-sample Kolmogorov-Smirnov statistic (max distance between empirical CDFs).

    Parameters
    ----------
    real, synthetic : ndarray of float, shape (n,) and (m,)
        Values in any unit (datetimes as seconds); NaN values are dropped.

    Returns
    -------
    float
        In [0, 1]; 1 when the empirical distributions are identical; NaN when either
        side has no value.
    """
    a = np.sort(np.round(real[~np.isnan(real)], KS_DECIMALS))
    b = np.sort(np.round(synthetic[~np.isnan(synthetic)], KS_DECIMALS))
    if len(a) == 0 or len(b) == 0:
        return math.nan
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(1.0 - np.max(np.abs(cdf_a - cdf_b)))


def tv_complement(real: pd.Series, synthetic: pd.Series) -> float:
    """``1 - 0.5 * sum_k |p_real(k) - p_synth(k)|``: the complement of total variation distance.

    Parameters
    ----------
    real, synthetic : Series
        Category values; nulls are dropped, frequencies are shares of the non-null values
        over the union of both tables' categories.

    Returns
    -------
    float
        In [0, 1]; NaN when either side has no value.
    """
    p = real.dropna().value_counts(normalize=True)
    q = synthetic.dropna().value_counts(normalize=True)
    if p.empty or q.empty:
        return math.nan
    p, q = p.align(q, fill_value=0.0)
    return float(1.0 - 0.5 * np.abs(p.to_numpy() - q.to_numpy()).sum())


def category_coverage(real: pd.Series, synthetic: pd.Series) -> float:
    """Share of the categories present in ``real`` (non-null) that also occur in ``synthetic``; NaN if none."""
    seen = set(real.dropna().unique())
    if not seen:
        return math.nan
    return len(seen & set(synthetic.dropna().unique())) / len(seen)


def range_coverage(real: np.ndarray, synthetic: np.ndarray) -> float:
    """Share of the real ``[min, max]`` overlapped by the synthetic ``[min, max]``, in [0, 1].

    NaN values are ignored. A constant real column is covered (1.0) when the synthetic
    range contains its value. NaN when either side has no value.
    """
    real, synthetic = real[~np.isnan(real)], synthetic[~np.isnan(synthetic)]
    if len(real) == 0 or len(synthetic) == 0:
        return math.nan
    low, high = real.min(), real.max()
    s_low, s_high = synthetic.min(), synthetic.max()
    if high == low:
        return float(s_low <= low <= s_high)
    overlap = min(high, s_high) - max(low, s_low)
    return float(np.clip(overlap / (high - low), 0.0, 1.0))


# ---------------------------------------------------------------- pair math (pure)
def correlation_similarity(real: np.ndarray, synthetic: np.ndarray) -> tuple[float, float, float]:
    """``1 - |r_real - r_synth| / 2`` with Pearson's ``r``.

    Parameters
    ----------
    real, synthetic : ndarray of float, shape (n, 2) and (m, 2)
        The two columns; rows with a NaN are dropped.

    Returns
    -------
    (score, r_real, r_synth) : tuple of float
        Score in [0, 1]; all NaN-propagating when a column is constant or empty.
    """
    rs = []
    for values in (real, synthetic):
        values = values[~np.isnan(values).any(axis=1)]
        centred = values - values.mean(axis=0) if len(values) else values
        norm = np.sqrt((centred ** 2).sum(axis=0))
        rs.append(float((centred[:, 0] * centred[:, 1]).sum() / (norm[0] * norm[1]))
                  if len(values) > 1 and np.all(norm > 0) else math.nan)
    r_real, r_synth = (float(np.clip(r, -1.0, 1.0)) for r in rs)
    return 1.0 - abs(r_real - r_synth) / 2.0, r_real, r_synth


def contingency_similarity(real: tuple[np.ndarray, np.ndarray], synthetic: tuple[np.ndarray, np.ndarray],
                           sizes: tuple[int, int]) -> tuple[float, float, float]:
    """``1 - TV`` between the joint frequency tables of two discrete columns.

    Only the cells that occur are counted (as ``pandas.crosstab`` would), so two
    near-unique columns cost memory in their rows, not in the product of their levels.

    Parameters
    ----------
    real, synthetic : pair of ndarray of int
        Codes of the two columns in ``[0, sizes[0])`` and ``[0, sizes[1])``, shared by
        both tables (nulls coded as a category of their own).
    sizes : (int, int)
        Number of codes of each column.

    Returns
    -------
    (score, v_real, v_synth) : tuple of float
        Score in [0, 1], and Cramér's V of each table (the strength of association, in
        [0, 1]; NaN when a column takes a single value).
    """
    cells = [a.astype(np.int64) * sizes[1] + b for a, b in (real, synthetic)]
    _, inverse = np.unique(np.concatenate(cells), return_inverse=True)
    shares = [np.bincount(inverse[:len(cells[0])], minlength=inverse.max() + 1) / len(cells[0]),
              np.bincount(inverse[len(cells[0]):], minlength=inverse.max() + 1) / len(cells[1])]
    score = 1.0 - 0.5 * np.abs(shares[0] - shares[1]).sum()
    return float(score), _sparse_cramers_v(*real), _sparse_cramers_v(*synthetic)


def _sparse_cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramér's V of two code columns from their occupied cells: ``phi2 = sum p_ij^2 / (p_i p_j) - 1``."""
    rows, a = np.unique(a, return_inverse=True)
    columns, b = np.unique(b, return_inverse=True)
    if min(len(rows), len(columns)) < 2:
        return math.nan
    cells, counts = np.unique(a.astype(np.int64) * len(columns) + b, return_counts=True)
    p_row, p_column = np.bincount(a) / len(a), np.bincount(b) / len(b)
    joint = counts / len(a)
    phi2 = float((joint ** 2 / (p_row[cells // len(columns)] * p_column[cells % len(columns)])).sum() - 1.0)
    return float(np.sqrt(max(phi2, 0.0) / (min(len(rows), len(columns)) - 1)))


def cramers_v(joint: np.ndarray) -> float:
    """Cramér's V of a joint frequency table (shares summing to 1); empty rows/columns ignored."""
    joint = joint[joint.sum(axis=1) > 0][:, joint.sum(axis=0) > 0]
    if min(joint.shape) < 2:
        return math.nan
    expected = np.outer(joint.sum(axis=1), joint.sum(axis=0))
    phi2 = ((joint - expected) ** 2 / expected).sum()
    return float(np.sqrt(phi2 / (min(joint.shape) - 1)))


def bin_codes(values: np.ndarray, reference: np.ndarray, bins: int = PAIR_BINS, *,
              edges: str = "real") -> np.ndarray:
    """Codes of ``bins`` equal-width bins of a numerical column, for contingency tables.

    Parameters
    ----------
    values : ndarray of float, shape (n,)
        The column to cut (datetimes as seconds); NaN allowed.
    reference : ndarray of float, shape (m,)
        Values whose non-null ``[min, max]`` the bins span: the real column.
    bins : int, default 10
    edges : {"real", "sdmetrics"}
        ``"real"``: ``numpy.histogram_bin_edges(reference, bins)`` with open outer
        edges, so both tables share the real table's bins (codes ``1..bins``) and nulls
        get a code of their own (``bins + 1``). ``"sdmetrics"``: exactly SDMetrics'
        QualityReport 0.32 — edges from ``values`` itself (pass ``reference=values``),
        closed outer edges, so the maximum gets code ``bins + 1`` and ``numpy.digitize``
        puts nulls there too.

    Returns
    -------
    ndarray of int64, shape (n,), values in ``[0, bins + 1]``.

    Raises
    ------
    ValueError
        For an unknown ``edges``.
    """
    if edges not in ("real", "sdmetrics"):
        raise ValueError(f"edges must be 'real' or 'sdmetrics', got {edges!r}.")
    present = reference[~np.isnan(reference)]
    cuts = np.histogram_bin_edges(present if len(present) else np.zeros(1), bins=bins)
    if edges == "sdmetrics":
        return np.digitize(values, cuts).astype(np.int64)
    cuts[0], cuts[-1] = -np.inf, np.inf
    return np.where(np.isnan(values), bins + 1, np.digitize(values, cuts)).astype(np.int64)


# ---------------------------------------------------------------- table level
def _num(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def subsample(frame: pd.DataFrame, max_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """At most ``max_rows`` rows drawn without replacement (order kept); the frame itself when smaller."""
    if len(frame) <= max_rows:
        return frame
    return frame.iloc[np.sort(rng.choice(len(frame), size=max_rows, replace=False))].reset_index(drop=True)


def column_scores(tables: EvaluationTables, real: pd.DataFrame, synthetic: pd.DataFrame) -> list[dict]:
    """One dict per evaluated column: score, null rates and coverage (JSON-ready)."""
    rows = []
    for column in tables.columns:
        r, s = real[column], synthetic[column]
        null_r, null_s = float(r.isna().mean()), float(s.isna().mean())
        row = {"column": column, "kind": tables.metadata[column].kind}
        if column in tables.numerical:
            a, b = r.to_numpy(dtype=float), s.to_numpy(dtype=float)
            row.update(metric="KSComplement", score=_num(ks_complement(a, b)),
                       range_coverage=_num(range_coverage(a, b)))
        else:
            row.update(metric="TVComplement", score=_num(tv_complement(r, s)),
                       category_coverage=_num(category_coverage(r, s)))
        row.update(null_rate_real=null_r, null_rate_synthetic=null_s, null_rate_gap=abs(null_r - null_s))
        rows.append(row)
    return rows


def _discrete(tables: EvaluationTables, real: pd.DataFrame, synthetic: pd.DataFrame, edges: str) -> dict:
    """Shared integer codes per column: ``{column: (codes_real, codes_synth, n_codes)}``."""
    out = {}
    for column in tables.columns:
        if column in tables.numerical:
            a, b = real[column].to_numpy(dtype=float), synthetic[column].to_numpy(dtype=float)
            out[column] = (bin_codes(a, a, edges=edges), bin_codes(b, a if edges == "real" else b, edges=edges),
                           PAIR_BINS + 2)
        else:
            both = pd.concat([real[column].astype(object), synthetic[column].astype(object)], ignore_index=True)
            codes, uniques = pd.factorize(both, use_na_sentinel=False)
            out[column] = (codes[:len(real)], codes[len(real):], max(len(uniques), 1))
    return out


def pair_scores(tables: EvaluationTables, real: pd.DataFrame, synthetic: pd.DataFrame, *,
                edges: str = PAIR_BIN_EDGES) -> list[dict]:
    """One dict per pair of evaluated columns (metadata order), as in SDMetrics' Column Pair Trends.

    Numerical/datetime pairs get correlation similarity (``real``/``synthetic`` are
    Pearson's r); every other pair gets contingency similarity (``real``/``synthetic``
    are Cramér's V), numerical columns binned by :func:`bin_codes` with ``edges``.
    ``score`` is None where undefined (a constant column); ``counted`` says whether the
    real association passes ``REAL_CORRELATION_THRESHOLD`` / ``REAL_ASSOCIATION_THRESHOLD``
    so the pair enters ``fidelity.pair_trends`` (see :func:`pair_trends`).
    """
    codes = _discrete(tables, real, synthetic, edges)
    numerical = set(tables.numerical)
    rows = []
    for first, second in itertools.combinations(tables.columns, 2):
        if first in numerical and second in numerical:
            score, r, s = correlation_similarity(real[[first, second]].to_numpy(dtype=float),
                                                 synthetic[[first, second]].to_numpy(dtype=float))
            metric, statistic = "CorrelationSimilarity", "pearson"
        else:
            (a1, b1, n1), (a2, b2, n2) = codes[first], codes[second]
            score, r, s = contingency_similarity((a1, a2), (b1, b2), (n1, n2))
            metric, statistic = "ContingencySimilarity", "cramers_v"
        threshold = REAL_CORRELATION_THRESHOLD if statistic == "pearson" else REAL_ASSOCIATION_THRESHOLD
        counted = bool(math.isfinite(score) and math.isfinite(r) and abs(r) > threshold)
        rows.append({"columns": [first, second], "metric": metric, "score": _num(score),
                     "statistic": statistic, "real": _num(r), "synthetic": _num(s), "counted": counted})
    return rows


def pair_trends(pairs: list[dict]) -> tuple[float | None, str | None]:
    """Mean score of the counted pairs (all scored pairs when none is counted), and a note."""
    counted = [p["score"] for p in pairs if p["counted"]]
    if counted:
        return float(np.mean(counted)), None
    mean = _mean([p["score"] for p in pairs])
    return mean, None if mean is None else (
        "no pair of columns is related in the real table (|r| > 0.5 or Cramér's V > 0.3); "
        "averaged over all pairs")


def verdict(column_shapes: float | None, pair_trends: float | None, detection_auc: float | None) -> str:
    """"good", "fair" or "poor" from the module thresholds; a figure that is None is not judged."""
    checks = [(column_shapes, GOOD_COLUMN_SHAPES, POOR_COLUMN_SHAPES, True),
              (pair_trends, GOOD_PAIR_TRENDS, POOR_PAIR_TRENDS, True),
              (detection_auc, GOOD_DETECTION_AUC, POOR_DETECTION_AUC, False)]
    checks = [(v, good, poor, higher) for v, good, poor, higher in checks if v is not None]
    if any((v < poor) if higher else (v >= poor) for v, good, poor, higher in checks):
        return "poor"
    if all((v >= good) if higher else (v <= good) for v, good, poor, higher in checks):
        return "good"
    return "fair"


def _mean(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _metrics(columns: list[dict], pairs: list[dict], found: dict | None, note: str | None) -> list[Metric]:
    shapes, (trends, trends_note) = _mean([c["score"] for c in columns]), pair_trends(pairs)
    nulls = max(c["null_rate_gap"] for c in columns)
    cats = _mean([c.get("category_coverage") for c in columns])
    ranges = _mean([c.get("range_coverage") for c in columns])
    return [
        Metric("fidelity.column_shapes", "Column shapes", shapes, 1.0, "higher",
               "How closely each column's distribution matches the real one, averaged over columns "
               "(1 = identical, 0 = no overlap).",
               note=None if shapes is not None else "no column had values in both tables"),
        Metric("fidelity.pair_trends", "Column pair trends", trends, 1.0, "higher",
               "How well the synthetic data keeps the relationships between columns that are related in "
               "the real data (correlations and cross-tabulations), averaged over those pairs (1 = identical).",
               note=trends_note if trends is not None else "fewer than two columns, or only constant ones"),
        Metric("fidelity.detection_auc", "Detection AUC", None if found is None else found["auc"], 0.5, "lower",
               "How well a classifier can tell synthetic rows from real ones "
               "(0.5 = indistinguishable, 1 = every synthetic row is recognisable).",
               ci=None if found is None else tuple(found["auc_ci"]), note=note),
        Metric("fidelity.max_null_rate_gap", "Largest null-rate gap", nulls, 0.0, "lower",
               "The largest difference, over columns, between the share of missing values "
               "in the real and synthetic tables (0 = same everywhere)."),
        Metric("fidelity.category_coverage", "Category coverage", cats, 1.0, "higher",
               "The share of the real table's categories that also appear in the synthetic table, "
               "averaged over categorical columns.",
               note=None if cats is not None else "no categorical column"),
        Metric("fidelity.range_coverage", "Range coverage", ranges, 1.0, "higher",
               "The share of each numerical column's real range (min to max) that the synthetic values "
               "span, averaged over numerical and date columns.",
               note=None if ranges is not None else "no numerical or datetime column"),
    ]


def _detection(tables: EvaluationTables, max_rows: int, random_state: int) -> tuple[dict | None, str | None]:
    """Detection's result and the metric's note: why it is missing (a ValueError), or how it was fitted."""
    try:
        found = detection(tables, tables.real, tables.synthetic, max_rows=max_rows, random_state=random_state)
    except ValueError as error:
        return None, str(error)
    note = None if found["early_stopping"] else (
        "The tables are too small for the classifier's early-stopping split, so it was fitted without early stopping.")
    return found, note


def fidelity_section(tables: EvaluationTables, *, max_rows: int = 20_000, random_state: int = 0) -> Section:
    """Column shapes, column pair trends, detection AUC, null rates and coverage.

    Parameters
    ----------
    tables : EvaluationTables
        The prepared real and synthetic tables (the holdout is not used here).
    max_rows : int, default 20000
        Rows drawn (seeded, without replacement) from each table for the column and pair
        scores; detection uses at most ``max_rows // 2`` rows of each table.
    random_state : int, default 0

    Returns
    -------
    Section
        ``Section("fidelity")`` with the metrics ``fidelity.column_shapes``,
        ``fidelity.pair_trends``, ``fidelity.detection_auc``,
        ``fidelity.max_null_rate_gap``, ``fidelity.category_coverage`` and
        ``fidelity.range_coverage``, and details ``columns``, ``pairs``,
        ``worst_pairs`` (the 5 lowest-scoring pairs), ``detection`` (the result of
        :func:`~tabsynth.evaluation.detection.detection`: AUC, its interval and how it
        was made; None when not computed, the metric's note says why), ``rows``,
        ``thresholds`` and ``verdict`` ("good", "fair" or "poor", see :func:`verdict`).

    Raises
    ------
    ValueError
        When ``max_rows`` is smaller than 2.
    """
    if max_rows < 2:
        raise ValueError(f"max_rows must be at least 2 for the fidelity section, got {max_rows}.")
    rng = np.random.default_rng(random_state)
    real, synthetic = subsample(tables.real, max_rows, rng), subsample(tables.synthetic, max_rows, rng)
    columns, pairs = column_scores(tables, real, synthetic), pair_scores(tables, real, synthetic)
    found, note = _detection(tables, max_rows, random_state)
    metrics = _metrics(columns, pairs, found, note)
    values = {m.key: m.value for m in metrics}
    ranked = sorted((p for p in pairs if p["score"] is not None), key=lambda p: p["score"])
    details = {
        "columns": columns, "pairs": pairs, "worst_pairs": ranked[:WORST_PAIRS], "detection": found,
        "rows": {"real": len(real), "synthetic": len(synthetic)},
        "thresholds": {"good": {"column_shapes": GOOD_COLUMN_SHAPES, "pair_trends": GOOD_PAIR_TRENDS,
                                "detection_auc_at_most": GOOD_DETECTION_AUC},
                       "poor": {"column_shapes_below": POOR_COLUMN_SHAPES, "pair_trends_below": POOR_PAIR_TRENDS,
                                "detection_auc_at_least": POOR_DETECTION_AUC}},
        "verdict": verdict(values["fidelity.column_shapes"], values["fidelity.pair_trends"],
                           values["fidelity.detection_auc"]),
    }
    return Section("fidelity", metrics=metrics, details=details)
