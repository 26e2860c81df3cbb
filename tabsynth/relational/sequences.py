"""Parent-child tables as the flagship sees them: checks, the order scale and the derived frames.

A child table (transactions, monthly statements) is a set of ordered sequences, one per
parent. :class:`~tabsynth.relational.ParentChild` learns it with two kinds of flagship
models, and this module builds their training tables:

* the **parent frame**: one row per parent, its own columns plus, per child table ``c``,
  ``__n__.c`` (children of the parent: the cardinality) and, with ``order_by``,
  ``__start__.c`` (the order value of its first child);
* the **step frame** of child table ``c``: one row per child, holding its context (the parent
  frame's columns prefixed ``__parent__.``, ``__position__`` in the sequence, ``__elapsed__``
  since the first child in order units, and the previous ``history`` children's columns as
  ``__lag1__.<col>``, ... , null before the sequence starts, and, unless turned off, the running
  mean of each numerical column over all previous children as ``__mean__.<col>``) and its own columns, with
  ``__gap__`` (order units since the previous child; 0 for the first) standing for the order.

A child's row is drawn from p(child | parent, position, elapsed, last ``history`` children,
means of the earlier ones):
the sequence model trains on windows of ``history + 1`` children (so long sequences cost what
their rows cost) and generates position by position, batched over every parent at once.
This is the "context + sequential target" decomposition of PAR (Zhang et al. 2022) and of
MOSTLY AI's two-table models, with the autoregressive flagship as both models.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tabsynth.metadata import Metadata

N_PREFIX, START_PREFIX, PARENT_PREFIX = "__n__.", "__start__.", "__parent__."
POSITION, ELAPSED, GAP = "__position__", "__elapsed__", "__gap__"
MEAN_PREFIX = "__mean__."
RESERVED = "__"
_NS_PER = {"D": 86_400 * 10**9, "s": 10**9}


def lag_name(k: int, column: str) -> str:
    """The step frame's name of ``column`` ``k`` children back."""
    return f"__lag{k}__.{column}"


@dataclass(frozen=True)
class OrderScale:
    """How a child table's ``order_by`` column becomes numbers and back.

    Attributes
    ----------
    column : str
    kind : {"datetime", "integer"}
    unit : {"D", "s", "1"}
        Unit of gaps and elapsed time: days when every datetime is at midnight, else seconds;
        "1" for integer orders.
    """

    column: str
    kind: str
    unit: str

    def to_numbers(self, values: pd.Series) -> np.ndarray:
        """Order values -> float64 numbers in :attr:`unit` (datetimes: since 1970-01-01)."""
        if self.kind == "integer":
            return values.to_numpy(dtype=np.float64)
        nanoseconds = pd.to_datetime(values).astype("datetime64[ns]").astype(np.int64).to_numpy()
        return nanoseconds / _NS_PER[self.unit]

    def from_numbers(self, numbers: np.ndarray) -> pd.Series:
        """Inverse of :meth:`to_numbers` (integers rounded; datetimes at the unit's resolution)."""
        rounded = np.rint(np.asarray(numbers, dtype=np.float64))
        if self.kind == "integer":
            return pd.Series(rounded.astype(np.int64))
        return pd.Series(pd.to_datetime(rounded.astype(np.int64) * _NS_PER[self.unit], unit="ns"))

    def to_dict(self) -> dict:
        return {"column": self.column, "kind": self.kind, "unit": self.unit}


def order_scale(values: pd.Series, column: str, table: str) -> OrderScale:
    """The scale of an ``order_by`` column: datetimes (or strings that parse as them) or integers.

    Raises
    ------
    ValueError
        If the column has nulls, or neither parses as datetimes nor holds integers (the message
        names the table, the column and one value that does not parse).
    """
    if values.isna().any():
        raise ValueError(f"order_by column '{column}' of table '{table}' has {int(values.isna().sum())} null(s); "
                         "every child needs an order value (drop or fill those rows).")
    if pd.api.types.is_bool_dtype(values):
        raise ValueError(f"order_by column '{column}' of table '{table}' is boolean; give a datetime or an "
                         "integer column.")
    if pd.api.types.is_numeric_dtype(values):
        fractional = np.mod(values.to_numpy(dtype=np.float64), 1) != 0
        if fractional.any():
            raise ValueError(f"order_by column '{column}' of table '{table}' holds non-integer numbers (e.g. "
                             f"{float(values[fractional].iloc[0])!r}); give datetimes or integer positions.")
        return OrderScale(column, "integer", "1")
    parsed = _parse_datetimes(values, column, table)
    at_midnight = bool((parsed == parsed.dt.normalize()).all())
    return OrderScale(column, "datetime", "D" if at_midnight else "s")


def _parse_datetimes(values: pd.Series, column: str, table: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.Series(values)
    parsed = pd.to_datetime(values.astype(str), errors="coerce", format="mixed")
    if parsed.isna().any():
        bad = values[parsed.isna()].iloc[0]
        raise ValueError(f"order_by column '{column}' of table '{table}' does not parse as datetimes (e.g. "
                         f"{bad!r}); give ISO dates / timestamps or integer positions.")
    return parsed


def check_parent_key(parents: pd.DataFrame, key: str, table: str = "parents") -> None:
    """Raise ValueError unless ``parents[key]`` exists, has no nulls and is unique."""
    if key not in parents.columns:
        raise ValueError(f"The {table} table has no key column '{key}'; its columns are {list(parents.columns)}.")
    if parents[key].isna().any():
        raise ValueError(f"Key column '{key}' of the {table} table has {int(parents[key].isna().sum())} null(s); "
                         "every parent needs a key.")
    duplicated = parents[key].duplicated()
    if duplicated.any():
        raise ValueError(f"Key column '{key}' of the {table} table is not unique: {int(duplicated.sum())} "
                         f"repeated key(s), e.g. {parents[key][duplicated].iloc[0]!r}. One row per parent.")


def check_child_keys(children: pd.DataFrame, parents: pd.DataFrame, key: str, table: str) -> None:
    """Raise ValueError unless every child's ``key`` is a parent's (no nulls, none absent)."""
    if key not in children.columns:
        raise ValueError(f"Child table '{table}' has no key column '{key}'; its columns are "
                         f"{list(children.columns)}.")
    if children[key].isna().any():
        raise ValueError(f"Key column '{key}' of child table '{table}' has {int(children[key].isna().sum())} "
                         "null(s); every child needs its parent's key.")
    absent = ~children[key].isin(parents[key])
    if absent.any():
        raise ValueError(f"{int(absent.sum())} row(s) of child table '{table}' have a '{key}' absent from the "
                         f"parent table, e.g. {children[key][absent].iloc[0]!r}: add those parents or drop "
                         "those rows.")


def check_columns(frame: pd.DataFrame, table: str) -> None:
    """Column names starting with ``__`` are the derived columns' own; refuse them."""
    taken = [c for c in frame.columns if str(c).startswith(RESERVED)]
    if taken:
        raise ValueError(f"Table '{table}' has column(s) {taken} starting with '{RESERVED}', which tabsynth "
                         "reserves for derived columns; rename them.")


def sort_children(children: pd.DataFrame, key: str, order: np.ndarray | None) -> pd.DataFrame:
    """Children grouped by parent, each sequence in order (stable: ties keep the input order)."""
    frame = children.reset_index(drop=True)
    if order is None:
        sorter = np.argsort(frame[key].to_numpy(), kind="stable")
    else:
        sorter = np.lexsort((np.arange(len(frame)), order, pd.factorize(frame[key], sort=True)[0]))
    return frame.iloc[sorter].reset_index(drop=True)


def first_children(children: pd.DataFrame, key: str, cap: int) -> pd.DataFrame:
    """The first ``cap`` children of each parent (``children`` sorted by :func:`sort_children`)."""
    return children[children.groupby(key, sort=False).cumcount().to_numpy() < cap].reset_index(drop=True)


def parent_frame(parents: pd.DataFrame, key: str, children: dict[str, pd.DataFrame],
                 scales: dict[str, OrderScale | None]) -> pd.DataFrame:
    """The parents' own columns (key dropped) and, per child table, ``__n__.c`` and ``__start__.c``."""
    frame = parents.drop(columns=[key]).reset_index(drop=True)
    for name, child in children.items():
        counts = child.groupby(key, sort=False).size()
        frame[N_PREFIX + name] = parents[key].map(counts).fillna(0).astype(np.int64).to_numpy()
        scale = scales[name]
        if scale is not None:
            first = child.groupby(key, sort=False)[scale.column].first()
            starts = parents[key].map(first)
            if scale.kind == "datetime":
                starts = pd.to_datetime(starts)
            frame[START_PREFIX + name] = starts.to_numpy()
    return frame


def step_frame(children: pd.DataFrame, parents_derived: pd.DataFrame, parent_keys: pd.Series, key: str,
               scale: OrderScale | None, child_columns: list[str], history: int, running_mean: bool = True
               ) -> pd.DataFrame:
    """One row per child (``children`` sorted by :func:`sort_children`) with its context.

    ``parents_derived`` is :func:`parent_frame` (row i is the parent of key ``parent_keys[i]``);
    ``running_mean=False`` leaves out the ``__mean__.<col>`` context columns.
    """
    index = pd.Index(parent_keys).get_indexer(children[key])
    context = parents_derived.iloc[index].reset_index(drop=True).add_prefix(PARENT_PREFIX)
    groups = pd.factorize(children[key])[0]
    position = children.groupby(groups, sort=False).cumcount().to_numpy()
    own = children[child_columns].reset_index(drop=True)
    if scale is not None:
        numbers = scale.to_numbers(children[scale.column])
        start = numbers - position_offsets(numbers, position)
        own[GAP] = gaps_in_order(numbers, position)
        context[ELAPSED] = _integer_if_whole(np.where(position > 0, np.roll(numbers, 1) - start, 0.0))
    context[POSITION] = position.astype(np.int64)
    lags = {}
    for k in range(1, history + 1):
        for column in own.columns:
            shifted = own[column].shift(k)
            lags[lag_name(k, column)] = shifted.where(position >= k)
    means = {MEAN_PREFIX + column: _mean_of_previous(own[column], groups, position, column)
             for column in (mean_columns(own) if running_mean else [])}
    return pd.concat([context, pd.DataFrame(lags), pd.DataFrame(means), own], axis=1)


def mean_columns(own: pd.DataFrame) -> list[str]:
    """The own columns whose running mean over the previous children is context: the numbers
    (gaps included). It carries what a window cannot: a customer's usual spend and pace."""
    return [c for c in own.columns
            if pd.api.types.is_numeric_dtype(own[c]) and not pd.api.types.is_bool_dtype(own[c])]


def fine_columns(metadata: Metadata, history: int) -> list[str]:
    """The step frame's columns that get a fine token: the child's own numerical columns (its
    gap included) and their lagged copies, the numbers a sequence carries from one child to
    the next. Parent columns, position, elapsed time and running means are context only."""
    context = (PARENT_PREFIX, MEAN_PREFIX, POSITION, ELAPSED)
    own = [m.name for m in metadata if m.kind == "numerical" and not m.name.startswith(context)
           and not any(m.name.startswith(lag_name(k, "")) for k in range(1, history + 1))]
    lags = [lag_name(k, c) for k in range(1, history + 1) for c in own if lag_name(k, c) in metadata.names]
    return own + [c for c in lags if metadata[c].kind == "numerical"]


def is_panel(children: pd.DataFrame, key: str) -> bool:
    """Whether every parent with children has the same number of them (a panel: six monthly
    statements per client), as against event sequences of varying length (purchases)."""
    return bool(children.groupby(key, sort=False).size().nunique() <= 1)


def counts_in_mean(column: str, position: int) -> bool:
    """Whether the child at ``position`` enters ``column``'s running mean (the first child's gap
    is no gap)."""
    return not (column == GAP and position == 0)


def _mean_of_previous(values: pd.Series, groups: np.ndarray, position: np.ndarray, column: str) -> pd.Series:
    numbers = values.astype(np.float64)
    if column == GAP:
        numbers = numbers.where(position > 0)  # as counts_in_mean: the first child's gap is no gap
    present = numbers.notna().astype(np.float64)
    before_sum = numbers.fillna(0).groupby(groups).cumsum() - numbers.fillna(0)
    before_count = present.groupby(groups).cumsum() - present
    return (before_sum / before_count).where(before_count > 0)


def step_metadata(steps: pd.DataFrame, history: int) -> Metadata:
    """The step frame's inferred metadata, with two corrections.

    Position, elapsed time, gaps and running means stay numerical: generated sums of gaps take
    values the training table never had, which a categorical reading of a few monthly gaps
    would refuse.
    A lag column takes its own column's metadata (kind, categories, bounds), nullable: it
    holds the same values shifted, and generation feeds it whatever the own column produced,
    including values its shifted copy happened not to hold.
    """
    metadata = Metadata.infer(steps)
    timing = [POSITION, ELAPSED, GAP] + [c for c in steps.columns if c.startswith(MEAN_PREFIX)]
    for column in timing:
        if column in steps.columns and steps[column].nunique() > 1:
            metadata.refit_column(column, steps, "numerical")
    columns = []
    for meta in metadata:
        own = next((meta.name[len(lag_name(k, "")):] for k in range(1, history + 1)
                    if meta.name.startswith(lag_name(k, ""))), None)
        if own is not None and own in metadata.names:
            meta = dataclasses.replace(metadata[own], name=meta.name, nullable=True,
                                       null_rate=float(steps[meta.name].isna().mean()))
        averaged = meta.name[len(MEAN_PREFIX):] if meta.name.startswith(MEAN_PREFIX) else None
        if averaged in metadata.names and meta.kind != "numerical" and metadata[averaged].kind == "numerical":
            # A running mean that is one value in training (every gap a week) must still take the
            # means that generated values give (a first gap of 0 days): its own column's range.
            meta = dataclasses.replace(metadata[averaged], name=meta.name, nullable=True,
                                       null_rate=float(steps[meta.name].isna().mean()))
        columns.append(meta)
    return Metadata(columns)


def gaps_in_order(numbers: np.ndarray, position: np.ndarray) -> np.ndarray:
    """For sorted sequences: order units since the same parent's previous child (0 for a first
    child); integers when every gap is whole."""
    return _integer_if_whole(np.where(position > 0, numbers - np.roll(numbers, 1), 0.0))


def position_offsets(numbers: np.ndarray, position: np.ndarray) -> np.ndarray:
    """For sorted sequences: each row's order number minus its sequence's first one."""
    starts = np.flatnonzero(position == 0)
    lengths = np.diff(np.append(starts, len(position)))
    return numbers - np.repeat(numbers[starts], lengths)


def _integer_if_whole(values: np.ndarray) -> np.ndarray:
    return values.astype(np.int64) if np.all(np.mod(values, 1) == 0) else values
