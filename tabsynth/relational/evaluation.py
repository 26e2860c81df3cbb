"""The relational report: a parent table and its child sequences, real against synthetic.

:func:`evaluate_relational` returns a :class:`~tabsynth.evaluation.Report` with four sections:

* ``relational``: cardinality (children per parent, KS complement as SDMetrics'
  CardinalityShapeSimilarity), the child table's own column shapes and pair trends, the
  parent-to-child trends (each parent column against each per-parent aggregate of the
  children), and sequence coherence (inter-event gaps, lag-1 differences of numerical child
  columns, within-sequence lag-1 autocorrelation), each trend and coherence figure beside the
  same figure of the real holdout against the real training table (what a perfect generator
  would score: the SDMetrics pair trends cut each table's numbers on its own range, so even
  real held-out customers score well below 1 on the credit statements), and both trend
  figures once more on the real table's bins (``..._real_bins``, both tables cut alike:
  :func:`tabsynth.evaluation.fidelity.bin_codes`);
* ``fidelity``, ``utility`` and ``privacy``: the table report's sections on the **entity
  table** (one row per parent: its columns and the aggregates of its children), so detection
  is C2ST-Agg (Hudovernik et al. 2024, SyntheRela), utility is entity-level TSTR and the
  privacy figures (DCR share, membership inference) treat a customer with their history as
  one record.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from tabsynth.evaluation import run_section
from tabsynth.evaluation import fidelity, privacy, utility
from tabsynth.evaluation.metrics import Metric
from tabsynth.evaluation.report import Report, Section
from tabsynth.evaluation.tables import EvaluationTables
from tabsynth.metadata import as_dataframe
from tabsynth.relational.sequences import OrderScale, order_scale, sort_children

REPEAT_TARGET = "buys_again"
HEADLINE = ["relational.cardinality", "relational.parent_child_trends", "relational.gap_shape",
            "fidelity.detection_auc", "utility.tstr_trtr_ratio", "privacy.dcr_share", "privacy.mia_distance_auc"]


def _tables(children: Any) -> dict[str, pd.DataFrame]:
    tables = children if isinstance(children, dict) else {"children": children}
    return {str(name): as_dataframe(frame).reset_index(drop=True) for name, frame in tables.items()}


def _order(order_by: str | dict | None, name: str) -> str | None:
    return order_by.get(name) if isinstance(order_by, dict) else order_by


def _parents(parents: Any, tables: dict[str, pd.DataFrame], key: str) -> pd.DataFrame:
    if parents is not None:
        return as_dataframe(parents).reset_index(drop=True)
    keys = pd.unique(pd.concat([frame[key] for frame in tables.values()], ignore_index=True))
    return pd.DataFrame({key: keys})


def _order_numbers(frame: pd.DataFrame, column: str, table: str) -> np.ndarray:
    """Order values as numbers: days for datetimes (whatever their resolution), the integers otherwise."""
    scale = order_scale(frame[column], column, table)
    return OrderScale(column, scale.kind, "D" if scale.kind == "datetime" else "1").to_numbers(frame[column])


def _sorted(frame: pd.DataFrame, key: str, numbers: np.ndarray | None) -> tuple[pd.DataFrame, np.ndarray | None]:
    """:func:`~tabsynth.relational.sequences.sort_children`, with the order numbers sorted alike."""
    if numbers is None:
        return sort_children(frame, key, None), None
    tagged = frame.assign(__number__=numbers)
    ordered = sort_children(tagged, key, numbers)
    return ordered.drop(columns=["__number__"]), ordered["__number__"].to_numpy()


def entity_table(parents: Any, children: Any, *, key: str, order_by: str | dict | None = None,
                 until: Any = None) -> pd.DataFrame:
    """One row per parent: its columns (key dropped) and per-parent aggregates of each child table.

    Aggregates of child table ``c`` (prefixed ``c.`` when there are several tables):
    ``n_children``; per numerical column ``<col>_sum``, ``<col>_mean``, ``<col>_last``; per
    other column ``<col>_distinct`` and ``<col>_last``; with ``order_by``, ``first_<order>``
    and ``last_<order>`` (in the column's own type) and ``mean_gap`` (days, or integer steps).
    A parent without children has count and sums 0 and the other aggregates null.

    Parameters
    ----------
    parents : DataFrame or None
        With a unique ``key``; None: the keys of the children.
    children : DataFrame or dict of them
    key : str
    order_by : str, dict or None
    until : datetime-like, number or None
        Only children whose order value is at most this enter the aggregates (the
        calibration period of a repeat-purchase task).

    Returns
    -------
    pandas.DataFrame
        ``len(parents)`` rows, in the parents' order.
    """
    tables = _tables(children)
    parents = _parents(parents, tables, key)
    result = parents.drop(columns=[key]).reset_index(drop=True)
    prefix_tables = len(tables) > 1
    for name, frame in tables.items():
        column = _order(order_by, name)
        numbers = None if column is None else _order_numbers(frame, column, name)
        if until is not None and column is not None:
            limit = _limit(until, frame[column])
            keep = numbers <= limit
            frame, numbers = frame[keep].reset_index(drop=True), numbers[keep]
        frame, numbers = _sorted(frame, key, numbers)
        aggregates = _aggregates(frame, key, column, numbers)
        aligned = aggregates.reindex(parents[key].to_numpy()).reset_index(drop=True)
        for counted in [c for c in aligned.columns if c == "n_children" or c.endswith("_sum")]:
            aligned[counted] = aligned[counted].fillna(0)
        aligned["n_children"] = aligned["n_children"].astype(np.int64)
        result = pd.concat([result, aligned.add_prefix(f"{name}." if prefix_tables else "")], axis=1)
    return result


def _limit(until: Any, values: pd.Series) -> float:
    if pd.api.types.is_numeric_dtype(values):
        return float(until)
    return pd.Timestamp(until).to_datetime64().astype("datetime64[ns]").astype(np.int64) / 86_400e9


def _aggregates(frame: pd.DataFrame, key: str, order: str | None, numbers: np.ndarray | None) -> pd.DataFrame:
    groups = frame.groupby(key, sort=False)
    out = {"n_children": groups.size()}
    for column in frame.columns:
        if column in (key, order):
            continue
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            out[f"{column}_sum"] = groups[column].sum()
            out[f"{column}_mean"] = groups[column].mean()
            out[f"{column}_last"] = groups[column].last()
        else:
            out[f"{column}_distinct"] = groups[column].nunique()
            out[f"{column}_last"] = groups[column].last()
    if order is not None:
        out[f"first_{order}"] = groups[order].first()
        out[f"last_{order}"] = groups[order].last()
        gaps = pd.Series(_gaps(frame[key], numbers), index=frame.index)
        out["mean_gap"] = gaps.groupby(frame[key], sort=False).mean()
    return pd.DataFrame(out)


def _gaps(keys: pd.Series, numbers: np.ndarray) -> np.ndarray:
    """Within-sequence differences of sorted values; NaN at each sequence's first child."""
    same = np.zeros(len(keys), dtype=bool)
    same[1:] = keys.to_numpy()[1:] == keys.to_numpy()[:-1]
    return np.where(same, np.diff(np.asarray(numbers, dtype=np.float64), prepend=np.nan), np.nan)


# ---------------------------------------------------------------------- the relational section
def relational_section(real: tuple, synthetic: tuple, holdout: tuple | None, *, key: str,
                       order_by: str | dict | None, max_rows: int, random_state: int,
                       entity_tables: EvaluationTables | None = None) -> Section:
    """Cardinality, child shapes and pair trends, parent-to-child trends, sequence coherence.

    ``entity_tables``: the real and synthetic entity tables when the caller has them (else built).

    ``real``, ``synthetic``, ``holdout``: ``(parents, {name: children})``.
    """
    metrics, details = [], {"tables": {}}
    rng = np.random.default_rng(random_state)
    # The holdout baselines' own rows come from a stream of their own, so the synthetic figures
    # draw the same rows with or without a holdout.
    baseline_rng = np.random.default_rng(np.random.SeedSequence(random_state).spawn(1)[0])
    per_table = []
    for name in real[1]:
        figures = _table_figures(real, synthetic, holdout, name, key=key, order=_order(order_by, name),
                                 max_rows=max_rows, rng=rng, baseline_rng=baseline_rng)
        details["tables"][name] = figures
        per_table.append(figures)
    if entity_tables is None:
        entity_tables = EvaluationTables.prepare(*(entity_table(*pair, key=key, order_by=order_by)
                                                   for pair in (real, synthetic, holdout) if pair is not None))
    parent_columns = [c for c in real[0].columns if c != key]
    sample = fidelity.subsample(entity_tables.real, max_rows, rng)  # one real sample for both comparisons
    synthetic_sample = fidelity.subsample(entity_tables.synthetic, max_rows, rng)
    details["parent_child_pairs"] = _parent_child_pairs(entity_tables, parent_columns, sample, synthetic_sample)
    trends, trends_note = fidelity.pair_trends(details["parent_child_pairs"]) if details["parent_child_pairs"] \
        else (None, "the parent table has no column besides the key")
    trends_real_bins = fidelity.pair_trends(_parent_child_pairs(
        entity_tables, parent_columns, sample, synthetic_sample, edges="real"))[0] if trends is not None else None
    trends_holdout = None
    if entity_tables.holdout is not None and details["parent_child_pairs"]:
        trends_holdout = fidelity.pair_trends(_parent_child_pairs(
            entity_tables, parent_columns, sample, fidelity.subsample(entity_tables.holdout, max_rows,
                                                                      baseline_rng)))[0]

    def mean(field: str) -> float | None:
        values = [f[field] for f in per_table if f.get(field) is not None]
        return float(np.mean(values)) if values else None

    def baseline(key: str, label: str, value: float | None) -> Metric:
        note = "needs a holdout" if holdout is None else "not defined for these tables"
        return _holdout_baseline(key, label, value, note)

    metrics += [
        Metric("relational.cardinality", "Cardinality", mean("cardinality"), 1.0, "higher",
               "How closely the number of children per parent matches the real distribution "
               "(KS complement, 1 = identical)."),
        baseline("relational.cardinality", "Cardinality", mean("cardinality_holdout")),
        Metric("relational.child_column_shapes", "Child column shapes", mean("child_column_shapes"), 1.0, "higher",
               "How closely each child column's distribution matches the real one, averaged over columns."),
        Metric("relational.child_pair_trends", "Child pair trends", mean("child_pair_trends"), 1.0, "higher",
               "How well the relationships between child columns are kept (1 = identical)."),
        baseline("relational.child_pair_trends", "Child pair trends", mean("child_pair_trends_holdout")),
        _on_real_bins("relational.child_pair_trends", "Child pair trends", mean("child_pair_trends_real_bins")),
        Metric("relational.parent_child_trends", "Parent-to-child trends", trends, 1.0, "higher",
               "How well each parent column's relationship with the per-parent aggregates of its children "
               "(count, sums, means, distinct categories) is kept (1 = identical).", note=trends_note),
        baseline("relational.parent_child_trends", "Parent-to-child trends",
                 trends_holdout if trends is not None else None),
        _on_real_bins("relational.parent_child_trends", "Parent-to-child trends", trends_real_bins),
    ]
    for field, label, meaning in (
            ("gap_shape", "Inter-event gaps",
             "How closely the time between consecutive children of a parent matches the real one (KS complement)."),
            ("lag_difference_shape", "Lag-1 differences",
             "How closely the change of each numerical child column from one child to the next matches "
             "the real one (KS complement, averaged over columns)."),
            ("autocorrelation", "Within-sequence autocorrelation",
             "How closely the per-parent lag-1 autocorrelation of each numerical child column matches "
             "the real one (KS complement, averaged over columns).")):
        value = mean(field)
        note = None if value is not None else "needs sequences of two or more children (and order_by for gaps)"
        metrics.append(Metric(f"relational.{field}", label, value, 1.0, "higher", meaning, note=note))
        metrics.append(baseline(f"relational.{field}", label, mean(field + "_holdout")))
    values = {m.key: m.value for m in metrics}
    details["verdict"] = fidelity.verdict(values["relational.child_column_shapes"],
                                          values["relational.parent_child_trends"], None)
    return Section("relational", metrics=metrics, details=details)


def _holdout_baseline(key: str, label: str, value: float | None, note: str) -> Metric:
    return Metric(key + "_holdout", label + " (holdout baseline)", value, 1.0, "higher",
                  "The same figure for real held-out parents against the real training ones: what a perfect "
                  "generator would score on tables of this size.", note=None if value is not None else note)


def _on_real_bins(key: str, label: str, value: float | None) -> Metric:
    return Metric(key + "_real_bins", label + " (real table's bins)", value, 1.0, "higher",
                  "The same figure with the numbers of both tables cut on the real table's bins (SDMetrics cuts each "
                  "table on its own range, so one extreme value moves every bin).",
                  note=None if value is not None else "not defined for these tables")


def _table_figures(real, synthetic, holdout, name, *, key, order, max_rows, rng, baseline_rng) -> dict:
    real_children, syn_children = real[1][name], synthetic[1][name]
    counts = [_counts(tables[0], tables[1][name], key) for tables in (real, synthetic)]
    if holdout is not None:
        counts.append(_counts(holdout[0], holdout[1][name], key))
    figures = {"cardinality": fidelity.ks_complement(counts[0], counts[1]),
               "cardinality_holdout": None if holdout is None else fidelity.ks_complement(counts[0], counts[2]),
               "children": {"real": len(real_children), "synthetic": len(syn_children)}}
    own = [c for c in real_children.columns if c != key]
    tables = EvaluationTables.prepare(real_children[own], syn_children[own],
                                      None if holdout is None else holdout[1][name][own])
    a, b = fidelity.subsample(tables.real, max_rows, rng), fidelity.subsample(tables.synthetic, max_rows, rng)
    figures["child_column_shapes"] = fidelity._mean([c["score"] for c in fidelity.column_scores(tables, a, b)])
    figures["child_pair_trends"] = fidelity.pair_trends(fidelity.pair_scores(tables, a, b))[0] \
        if len(tables.columns) > 1 else None
    figures["child_pair_trends_real_bins"] = fidelity.pair_trends(fidelity.pair_scores(tables, a, b, edges="real"))[0] \
        if len(tables.columns) > 1 else None
    if tables.holdout is not None and len(tables.columns) > 1:
        figures["child_pair_trends_holdout"] = fidelity.pair_trends(fidelity.pair_scores(
            tables, a, fidelity.subsample(tables.holdout, max_rows, baseline_rng)))[0]
    numeric = [c for c in tables.numerical if c != order and tables.metadata[c].kind == "numerical"]
    sequences = {"real": _sequence_statistics(real_children, key, order, numeric, name)}
    sequences["synthetic"] = _sequence_statistics(syn_children, key, order, numeric, name)
    if holdout is not None:
        sequences["holdout"] = _sequence_statistics(holdout[1][name], key, order, numeric, name)
    for field in ("gap_shape", "lag_difference_shape", "autocorrelation"):
        figures[field] = _coherence(sequences["real"], sequences["synthetic"], field)
        if holdout is not None:
            figures[field + "_holdout"] = _coherence(sequences["real"], sequences["holdout"], field)
    return figures


def _counts(parents: pd.DataFrame, children: pd.DataFrame, key: str) -> np.ndarray:
    counts = children.groupby(key).size()
    return parents[key].map(counts).fillna(0).to_numpy(dtype=np.float64)


def _sequence_statistics(children: pd.DataFrame, key: str, order: str | None, numeric: list[str],
                         name: str) -> dict:
    """Gaps, lag-1 differences and per-sequence lag-1 autocorrelations of one child table."""
    numbers = None if order is None else _order_numbers(children, order, name)
    frame, numbers = _sorted(children, key, numbers)
    out = {"gap_shape": None if numbers is None else _finite(_gaps(frame[key], numbers)),
           "lag_difference_shape": {}, "autocorrelation": {}}
    groups = pd.factorize(frame[key])[0]
    for column in numeric:
        values = frame[column].to_numpy(dtype=np.float64)
        out["lag_difference_shape"][column] = _finite(_gaps(frame[key], values))
        out["autocorrelation"][column] = _autocorrelations(values, groups)
    return out


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def _autocorrelations(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation of each sequence with at least 3 children and some variation."""
    frame = pd.DataFrame({"g": groups, "x": values})
    frame["previous"] = frame.groupby("g")["x"].shift(1)
    pairs = frame.dropna()
    stats = pairs.groupby("g").agg(n=("x", "size"), sx=("x", "std"), sp=("previous", "std"))
    usable = stats.index[(stats["n"] >= 2) & (stats["sx"] > 0) & (stats["sp"] > 0)]
    pairs = pairs[pairs["g"].isin(usable)]
    if len(pairs) == 0:
        return np.array([])
    return pairs.groupby("g")[["x", "previous"]].corr().xs("x", level=1)["previous"].to_numpy()


def _coherence(first: dict, second: dict, field: str) -> float | None:
    a, b = first[field], second[field]
    if a is None or b is None:
        return None
    if isinstance(a, dict):
        scores = [_ks(a[c], b[c]) for c in a]
        scores = [s for s in scores if s is not None]
        return float(np.mean(scores)) if scores else None
    return _ks(a, b)


def _ks(a: np.ndarray, b: np.ndarray) -> float | None:
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    return None if len(a) == 0 or len(b) == 0 else float(fidelity.ks_complement(a, b))


def _parent_child_pairs(tables: EvaluationTables, parent_columns: list[str], real: pd.DataFrame,
                        other: pd.DataFrame, edges: str = fidelity.PAIR_BIN_EDGES) -> list[dict]:
    """Pair trends between each parent column and each aggregate of the children, between two
    entity tables (rows of the real one against the synthetic or the holdout one)."""
    if not parent_columns:
        return []
    pairs = fidelity.pair_scores(tables, real, other, edges=edges)
    parents = set(parent_columns)
    return [p for p in pairs if (p["columns"][0] in parents) != (p["columns"][1] in parents)]


# ---------------------------------------------------------------------- the whole report
def evaluate_relational(real_parents: Any, real_children: Any, synthetic_parents: Any, synthetic_children: Any,
                        holdout: tuple | None = None, *, key: str, order_by: str | dict | None = None,
                        target: str | None = None, calibration_end: Any = None, max_rows: int = 20_000,
                        privacy_rows: int = 5_000, random_state: int = 0,
                        on_error: Literal["report", "raise"] = "report") -> Report:
    """Compare synthetic parents and children with the real ones they were generated from.

    Parameters
    ----------
    real_parents, synthetic_parents : DataFrame or None
        One row per parent with the ``key`` column; None when the parent table is the set of
        keys of the children (the synthetic one then too).
    real_children, synthetic_children : DataFrame or dict of str -> DataFrame
        The child table(s), each row carrying its parent's ``key``.
    holdout : (parents, children) or None
        Real parents (and their children) the generator never saw: the test set of the
        utility section, the privacy baselines and the coherence baselines.
    key : str
    order_by : str, dict or None
        The order column of the child table(s) (datetimes or integers).
    target : str or None
        A parent column to predict from the entity table (train on synthetic entities, test on
        the holdout's real ones), for example a default flag.
    calibration_end : datetime-like or None
        Instead of ``target``: the repeat-purchase task of customer-base analysis. Features
        come from children ordered at or before this date; the target ``buys_again`` says
        whether the parent has a child after it (for CDNOW: 1997-09-30, the standard
        39-week calibration period).
    max_rows, privacy_rows, random_state, on_error
        As in :func:`tabsynth.evaluate`.

    Returns
    -------
    Report
        Sections ``relational``, ``fidelity`` (entity table; ``fidelity.detection_auc`` is
        C2ST-Agg), ``utility`` (entity TSTR) and ``privacy`` (entity DCR share and
        membership inference).

    Raises
    ------
    ValueError
        If both ``target`` and ``calibration_end`` are given, or (with ``on_error="raise"``)
        on tables a section cannot read.
    """
    if target is not None and calibration_end is not None:
        raise ValueError("Give either target (a parent column) or calibration_end (the repeat-purchase task), "
                         "not both.")
    real = _pair(real_parents, real_children, key)
    synthetic = _pair(synthetic_parents, synthetic_children, key)
    held = None if holdout is None else _pair(holdout[0], holdout[1], key)
    entities = {name: entity_table(*pair, key=key, order_by=order_by)
                for name, pair in (("real", real), ("synthetic", synthetic), ("holdout", held)) if pair is not None}
    entity_tables = EvaluationTables.prepare(entities["real"], entities["synthetic"], entities.get("holdout"))
    sections = {
        "relational": run_section("relational", lambda: relational_section(
            real, synthetic, held, key=key, order_by=order_by, max_rows=max_rows, random_state=random_state,
            entity_tables=entity_tables),
            on_error),
        "fidelity": run_section("fidelity", lambda: fidelity.fidelity_section(
            entity_tables, max_rows=max_rows, random_state=random_state), on_error),
        "utility": run_section("utility", lambda: utility.utility_section(
            _utility_tables(real, synthetic, held, entities, key, order_by, target, calibration_end),
            max_rows=max_rows, random_state=random_state), on_error),
        "privacy": run_section("privacy", lambda: privacy.privacy_section(
            entity_tables, max_rows=privacy_rows, anonymeter=False, random_state=random_state), on_error),
    }
    verdicts = {name: section.details.get("verdict", "not computed") if section.status == "computed"
                else "not computed" for name, section in sections.items()}
    summary = {"real_parents": len(real[0]), "synthetic_parents": len(synthetic[0]),
               "holdout_parents": None if held is None else len(held[0]),
               "child_rows": {name: {"real": len(frame), "synthetic": len(synthetic[1][name])}
                              for name, frame in real[1].items()},
               "key": key, "order_by": order_by, "target": target,
               "calibration_end": None if calibration_end is None else str(calibration_end),
               "entity_columns": entity_tables.columns}
    return Report(tables=summary, sections=sections, verdicts=verdicts, headline_keys=HEADLINE,
                  evaluation_tables=entity_tables)


def _pair(parents: Any, children: Any, key: str) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    tables = _tables(children)
    return _parents(parents, tables, key), tables


def _utility_tables(real, synthetic, holdout, entities, key, order_by, target, calibration_end) -> EvaluationTables:
    if calibration_end is None:  # the whole histories: the entity tables already built
        return EvaluationTables.prepare(entities["real"], entities["synthetic"], entities.get("holdout"),
                                        target=target)
    frames = [None if pair is None else repeat_purchase_table(*pair, key=key, order_by=order_by,
                                                              calibration_end=calibration_end)
              for pair in (real, synthetic, holdout)]
    return EvaluationTables.prepare(frames[0], frames[1], frames[2], target=REPEAT_TARGET)


def repeat_purchase_table(parents: pd.DataFrame, children: Any, *, key: str, order_by: str | dict,
                          calibration_end: Any) -> pd.DataFrame:
    """The entity table of the calibration period and the target ``buys_again`` (a child after
    ``calibration_end``). Parents whose first child comes after the end are left out (they are
    not yet customers at the end of calibration).

    Raises
    ------
    ValueError
        Without ``order_by``.
    """
    if order_by is None:
        raise ValueError("calibration_end needs order_by (the children's dates).")
    tables = _tables(children)
    features = entity_table(parents, tables, key=key, order_by=order_by, until=calibration_end)
    later = np.zeros(len(parents), dtype=bool)
    for name, frame in tables.items():
        column = _order(order_by, name)
        numbers = _order_numbers(frame, column, name)
        after = frame[key][numbers > _limit(calibration_end, frame[column])]
        later |= parents[key].isin(after).to_numpy()
    counts = features[[c for c in features.columns if c.endswith("n_children")]].sum(axis=1).to_numpy()
    features[REPEAT_TARGET] = later
    return features[counts > 0].reset_index(drop=True)


__all__ = ["entity_table", "evaluate_relational", "relational_section", "repeat_purchase_table"]
