"""Panels in wide layout: a parent's short, fixed-length sequence as columns of its own row.

A panel is a child table where every parent has the same few children (six monthly
statements per credit-card client). There the step model of :mod:`tabsynth.relational.sequences`
(each child given the parent and the previous ``history`` children) throws away what a panel
makes cheap to keep: every statement could see every other one and the parent at once. The
wide layout does that. Child ``p`` of a parent (in order, ``p = 0 .. width - 1``) becomes the
columns ``__at<p>__.<col>`` of the parent frame, with ``__at<p>__.__gap__`` (order units since
child ``p - 1``) for ``p >= 1``, and the parent model learns the joint distribution of the
parent's columns and its whole panel: the long-to-wide reshaping of panel data, with the
flagship's any-order autoregression over all of it.

A parent with fewer than ``width`` children has nulls in its later positions (its
``__n__.<table>`` column says how many are real); more than ``width`` are cut by the caller's
``max_children`` cap first.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from tabsynth.metadata import ColumnMetadata, Metadata
from tabsynth.relational.sequences import GAP, OrderScale, gaps_in_order

# The most wide columns a table may add to the parent model (more is refused): the parent
# model's memory and fit time grow with the panel's positions times its columns.
MAX_WIDE_COLUMNS = 128


def wide_name(position: int, column: str) -> str:
    """The parent frame's name of ``column`` of the child at ``position`` (0-based, in order)."""
    return f"__at{position}__.{column}"


def wide_count(n_columns: int, width: int, ordered: bool) -> int:
    """Columns the wide layout adds: ``n_columns`` per position, and a gap from position 1 on."""
    return n_columns * width + (width - 1 if ordered else 0)


def wide_metadata(children: pd.DataFrame, wide: pd.DataFrame, scale: OrderScale | None, child_columns: list[str],
                  width: int, private: bool = False) -> list[ColumnMetadata]:
    """The wide columns' metadata, one per column of :func:`widen`'s frame, in its order.

    Every position of a child column takes that column's metadata inferred over all the
    children (one kind, category set and range for all positions, as the step model's lag
    columns do). Nullable where the wide frame holds nulls; with ``private`` (DP) every
    position is nullable whatever the data: a parent may have fewer children than ``width``,
    and the schema may not tell which positions every parent fills. The gaps are numerical,
    inferred over every position's gaps.
    """
    own = Metadata.infer(children[child_columns])
    gaps = None
    if scale is not None and width > 1:
        values = pd.concat([wide[wide_name(p, GAP)] for p in range(1, width) if wide_name(p, GAP) in wide],
                           ignore_index=True).dropna()
        frame = pd.DataFrame({GAP: values if len(values) else pd.Series([0.0])})  # (no parent with two children)
        gaps = Metadata.infer(frame)
        if frame[GAP].nunique() > 1:
            gaps.refit_column(GAP, frame, "numerical")
    columns = []
    for name in wide.columns:
        column = name.split("__.", 1)[1]
        meta = gaps[GAP] if column == GAP else own[column]
        nullable = private or bool(wide[name].isna().any())  # (nullable columns cost a null token each)
        columns.append(dataclasses.replace(meta, name=name, nullable=nullable, null_rate=float(wide[name].isna().mean())))
    return columns


def wide_width(children: pd.DataFrame, key: str) -> int:
    """Positions the wide layout needs: the most children any parent has."""
    return int(children.groupby(key, sort=False).size().max())


def widen(children: pd.DataFrame, parent_keys: pd.Series, key: str, scale: OrderScale | None,
          child_columns: list[str], width: int) -> pd.DataFrame:
    """The wide columns, one row per parent in the order of ``parent_keys``.

    Parameters
    ----------
    children : DataFrame
        One child table sorted by :func:`~tabsynth.relational.sequences.sort_children` (each
        parent's children consecutive, in order), at most ``width`` children per parent.
    parent_keys : Series
        The parents' keys; row ``i`` of the result belongs to ``parent_keys[i]``.
    key : str
    scale : OrderScale or None
        The order column's scale: with one, each position from 1 on also holds its gap.
    child_columns : list of str
        The child columns to lay out (key and order column excluded).
    width : int
        Positions.

    Returns
    -------
    DataFrame
        ``len(parent_keys)`` rows; per position its child columns and (from position 1, with
        ``scale``) ``__gap__``, named by :func:`wide_name`; null where a parent has no child
        at that position. Integer columns with such nulls become pandas' ``Int64``.
    """
    row = pd.Index(parent_keys).get_indexer(children[key])
    position = children.groupby(key, sort=False).cumcount().to_numpy()
    own = children[child_columns].reset_index(drop=True)
    if scale is not None:
        own[GAP] = gaps_in_order(scale.to_numbers(children[scale.column]), position)
    columns = {}
    for p in range(width):
        at = np.flatnonzero(position == p)
        for column in own.columns:
            if column == GAP and p == 0:
                continue  # the first child's order value is the parent's __start__ column
            placed = pd.Series(own[column].iloc[at].to_numpy(), index=row[at]).reindex(range(len(parent_keys)))
            if not placed.isna().any():
                placed = placed.astype(own[column].dtype)
            elif pd.api.types.is_integer_dtype(own[column].dtype):
                placed = placed.astype("Int64")  # nulls without turning the integers into floats
            columns[wide_name(p, column)] = placed
    return pd.DataFrame(columns)


def narrow_parts(derived: pd.DataFrame, child_columns: list[str], scale: OrderScale | None, width: int,
                 lengths: np.ndarray) -> list[pd.DataFrame]:
    """Generated wide columns -> per-position frames of children, as the step model makes them.

    Parameters
    ----------
    derived : DataFrame
        The parent model's sample (one row per parent) holding the wide columns.
    child_columns : list of str
    scale : OrderScale or None
    width : int
    lengths : ndarray of int, shape (n_parents,)
        Children per parent (``__n__.<table>``; clipped here to ``0 .. width``).

    Returns
    -------
    list of DataFrame
        One per position ``p`` with a child at it: the child columns of the parents whose
        sequence reaches ``p``, ``__row__`` (the parent's row in ``derived``) and, with
        ``scale``, ``__elapsed_now__`` (order units since the parent's first child; negative
        generated gaps count as 0).
    """
    lengths = np.clip(np.asarray(lengths, dtype=np.int64), 0, width)
    elapsed = np.zeros(len(derived))
    parts = []
    for p in range(int(lengths.max(initial=0))):
        active = np.flatnonzero(lengths > p)
        own = pd.DataFrame({column: derived[wide_name(p, column)].iloc[active].to_numpy()
                            if wide_name(p, column) in derived.columns else np.full(len(active), np.nan)
                            for column in child_columns})  # (a column null at every parent was not learned)
        if scale is not None:
            if p > 0 and wide_name(p, GAP) in derived.columns:
                gap = pd.to_numeric(derived[wide_name(p, GAP)].iloc[active], errors="coerce").to_numpy(np.float64)
                elapsed[active] += np.nan_to_num(gap, nan=0.0).clip(min=0)
            own["__elapsed_now__"] = elapsed[active]
        own["__row__"] = active
        parts.append(own)
    return parts
