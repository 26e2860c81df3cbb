"""The public schema of a DP fit: what may be known about the table without spending budget.

Public: column names, kinds, dtypes, nullability, datetime formats and resolution, and the
number of rows (as in DP-SGD practice, whose sampling rate is batch / rows). Either the
user declares them in a metadata file, together with any value facts they declare public
(category lists, bounds, decimals, a constant's value), or they are inferred from the table
and the fit prints which facts it took from the data.

Everything else a fit needs from the values is released by the mechanisms of
:mod:`tabsynth.privacy.mechanisms` and charged to the ledger.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from tabsynth.metadata import ColumnMetadata, Metadata


def public_schema(frame: pd.DataFrame, declared: Metadata | None) -> tuple[Metadata, list[str]]:
    """The schema a DP fit may use, and notes on where each fact came from.

    Parameters
    ----------
    frame : DataFrame
        The training table.
    declared : Metadata or None
        The user's metadata (every fact in it is taken as public: the user declares it),
        or None to infer the schema from ``frame``.

    Returns
    -------
    (Metadata, list of str)
        The public metadata and one note per kind of fact (for the fit to print).
        Inferred: value facts are cleared (categories, bounds, float decimals, null rates,
        a constant's value, which becomes a categorical column whose value is released by
        partition selection); a boolean column keeps ``[False, True]``, its dtype's domain;
        integer columns round to 0 decimals.
    """
    if declared is not None:
        columns = [dataclasses.replace(c, null_rate=0.0) for c in declared]
        declared_facts = [_declared_facts(c) for c in declared]
        named = [f"'{c.name}' ({', '.join(f)})" for c, f in zip(declared, declared_facts) if f]
        notes = ["DP: schema (kinds, dtypes, nullability) from the given metadata."]
        if named:
            notes.append("DP: value facts declared public by the metadata, used without noise: " + "; ".join(named)
                         + ". Declare only facts that are public; everything else is released with noise.")
        notes.append(f"DP: the row count ({len(frame):,}) is treated as public (DP-SGD's sampling rate).")
        return Metadata(columns), notes
    inferred = Metadata.infer(frame)
    columns = [_schema_only(c) for c in inferred]
    notes = [f"DP: schema inferred from the data, no noise: kinds, dtypes, nullability and datetime formats of "
             f"{len(columns)} columns ({', '.join(f'{c.name}: {c.kind}' for c in columns)}); the row count "
             f"({len(frame):,}). Pass a metadata file to keep these from the data too."]
    return Metadata(columns), notes


def schema_only(metadata: Metadata) -> Metadata:
    """``metadata`` with every value fact cleared (categories, bounds, decimals of floats,
    null rates, constants' values): kinds, dtypes, nullability and formats only, as
    :func:`public_schema` infers them. For metadata a program derived from the data (which
    :func:`public_schema` would otherwise take as declared public)."""
    return Metadata([_schema_only(column) for column in metadata])


def _schema_only(column: ColumnMetadata) -> ColumnMetadata:
    kind = column.kind
    if kind == "constant":
        # A constant's value is a fact of the data: a datetime one keeps its public kind (its
        # range is released as any datetime's); any other becomes a category released by
        # partition selection.
        kind = "datetime" if str(column.dtype).startswith("datetime64") else "categorical"
    boolean = column.dtype == "bool"
    return dataclasses.replace(
        column, kind=kind, null_rate=0.0, minimum=None, maximum=None, value=None,
        decimals=0 if column.is_integer and kind == "numerical" else None,
        categories=[False, True] if boolean and kind == "categorical" else None)


def _declared_facts(column: ColumnMetadata) -> list[str]:
    facts = []
    if column.kind == "categorical" and column.categories and column.dtype != "bool":
        facts.append(f"{len(column.categories)} categories")
    if column.kind in ("numerical", "datetime") and column.minimum is not None and column.maximum is not None:
        facts.append("bounds")
    if column.kind == "numerical" and column.decimals is not None and not column.is_integer:
        facts.append(f"{column.decimals} decimals")
    if column.kind == "constant":
        facts.append("value")
    return facts
