"""Column kinds, null rates, bounds and categories of a table: inferred, editable, JSON round-trip.

The metadata is the schema contract between the real table and the synthetic one:
the encoders read it to choose a transformation per column, and decoding uses it
to restore dtypes, decimals and bounds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tabsynth.io import write_text

KINDS = ("numerical", "categorical", "datetime", "id", "key", "constant")

# A numeric column is read as levels (categorical) rather than a quantity when it has
# at most this many distinct values ...
MAX_CODES_ANY = 10
# ... or, for integers, at most this many forming one contiguous run (Browser: 1..13).
MAX_CODES_CONTIGUOUS = 20
# Name words that mark identifiers (ID, customer_id, orderId, user-uuid); see _name_words.
_ID_WORDS = {"id", "uuid", "guid", "key"}
# Most decimals we look for in floats; beyond this a column keeps full precision.
_MAX_DECIMALS = 10


@dataclass
class ColumnMetadata:
    """What tabsynth knows about one column.

    Attributes
    ----------
    name : str
    kind : {"numerical", "categorical", "datetime", "id", "key", "constant"}
        ``id`` columns (a unique key per row) are not learned: fresh unique keys are generated.
        ``key`` columns (a key several rows share, such as the customer of a transaction) are
        not learned: fresh keys are generated with the real table's number of rows per key.
        ``constant`` columns are not learned: the single value is repeated.
    dtype : str
        The pandas dtype to restore on output (``"int64"``, ``"float64"``, ``"bool"``,
        ``"str"``, ``"datetime64[ns]"``, ...).
    nullable : bool
        Whether the column had nulls (the synthetic column may then have nulls).
    null_rate : float
        Share of nulls observed, in [0, 1].
    minimum, maximum : float or str or None
        Observed bounds of numerical columns (numbers) and datetime columns (ISO strings).
    decimals : int or None
        Decimals observed in a numerical column (0 for integers); outputs are rounded to it.
    categories : list or None
        Observed values of a categorical column, most frequent first (JSON scalars).
    datetime_format : str or None
        For datetimes stored as strings, the strftime format used to write them back.
    value : Any
        The single value of a ``constant`` column.
    """

    name: str
    kind: str
    dtype: str
    nullable: bool = False
    null_rate: float = 0.0
    minimum: Any = None
    maximum: Any = None
    decimals: int | None = None
    categories: list | None = None
    datetime_format: str | None = None
    value: Any = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"Column '{self.name}': unknown kind '{self.kind}'; use one of {', '.join(KINDS)}."
            )

    @property
    def is_integer(self) -> bool:
        """True for integer dtypes (nullable or not)."""
        return self.dtype.lower().startswith(("int", "uint"))


class Metadata:
    """The schema of a table: one :class:`ColumnMetadata` per column, in table order.

    Build it with :meth:`infer`, edit it with :meth:`update_column`, and save it with
    :meth:`save` / reload with :meth:`load` (JSON).

    Examples
    --------
    >>> meta = Metadata.infer(df)                       # doctest: +SKIP
    >>> meta.update_column("TrafficType", kind="categorical")  # doctest: +SKIP
    >>> meta.save("meta.json")                          # doctest: +SKIP
    """

    def __init__(self, columns: list[ColumnMetadata]):
        names = [c.name for c in columns]
        if len(set(names)) != len(names):
            raise ValueError(f"Column names must be unique; got {names}.")
        self.columns: dict[str, ColumnMetadata] = {c.name: c for c in columns}
        # The table inferred from (a weak reference: metadata never keeps a table alive), so
        # update_column can refit a column whose kind changes.
        self._source: weakref.ref | None = None

    def __getstate__(self) -> dict:
        # The weak reference to the inferred table cannot be pickled, nor should it travel.
        return {**self.__dict__, "_source": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    # ------------------------------------------------------------------ inference
    @classmethod
    def infer(cls, data: pd.DataFrame) -> "Metadata":
        """Infer the kind, dtype, nulls, bounds and categories of every column.

        Parameters
        ----------
        data : pandas.DataFrame or pyarrow.Table

        Returns
        -------
        Metadata

        Raises
        ------
        ValueError
            If the table has no rows or no columns, a column is entirely null, or a
            column mixes types that cannot be coerced to one (the message names it).
        TypeError
            If ``data`` is not a DataFrame or Arrow table.
        """
        frame = as_dataframe(data)
        if frame.shape[1] == 0:
            raise ValueError("The table has no columns; nothing to learn.")
        if frame.shape[0] == 0:
            raise ValueError("The table is empty (0 rows); give at least one row per column.")
        metadata = cls([_infer_column(str(name), frame[name]) for name in frame.columns])
        metadata._source = weakref.ref(frame)
        return metadata

    # ------------------------------------------------------------------ editing
    def update_column(self, name: str, **changes: Any) -> None:
        """Override fields of one column, e.g. ``update_column("Region", kind="numerical")``.

        Changing ``kind`` refits what the new kind needs (bounds and decimals, categories,
        the datetime format, the constant value) from the table this metadata was inferred
        on, when that table is still alive (:meth:`infer` keeps a weak reference to it);
        fields given in ``changes`` override the refitted ones. Metadata read from JSON has
        no table: give the new kind's fields yourself, or call :meth:`refit_column`.

        Raises
        ------
        KeyError
            If ``name`` is not a column.
        ValueError
            If a field name or kind is unknown, the column's values do not fit the new kind,
            or the new kind's fields cannot be refitted and were not given (the message
            names them).
        """
        column = self[name]
        known = {f.name for f in dataclasses.fields(ColumnMetadata)} - {"name"}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"Column '{name}': unknown field(s) {sorted(unknown)}; use {sorted(known)}.")
        kind = changes.get("kind", column.kind)
        if kind != column.kind:
            source = self._source() if self._source is not None else None
            if source is not None and name in source.columns:
                column = _with_fitted_fields(column, _infer_column(name, source[name], forced_kind=kind))
            else:
                column = _without_fitted_fields(column, kind, given=set(changes))
        self.columns[name] = dataclasses.replace(column, **changes)

    def refit_column(self, name: str, data: pd.DataFrame, kind: str) -> None:
        """Set the kind of column ``name`` and recompute its statistics from ``data``.

        Raises
        ------
        KeyError
            If ``name`` is not a column of ``data``.
        ValueError
            If the column's values do not fit ``kind`` (for example text made numerical).
        """
        frame = as_dataframe(data)
        if name not in frame.columns:
            raise KeyError(f"Column '{name}' is not in the table.")
        self.columns[name] = _infer_column(name, frame[name], forced_kind=kind)

    # ------------------------------------------------------------------ access
    def __getitem__(self, name: str) -> ColumnMetadata:
        try:
            return self.columns[name]
        except KeyError:
            raise KeyError(f"Column '{name}' is not in the metadata; columns are {list(self.columns)}.") from None

    def __iter__(self):
        return iter(self.columns.values())

    def __len__(self) -> int:
        return len(self.columns)

    @property
    def names(self) -> list[str]:
        """Column names in table order."""
        return list(self.columns)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Metadata) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        kinds = ", ".join(f"{c.name}: {c.kind}" for c in self)
        return f"Metadata({kinds})"

    def check_frame(self, data: pd.DataFrame, *, what: str = "table") -> pd.DataFrame:
        """Check that ``data`` has every column of this metadata; return it in metadata order.

        Raises
        ------
        ValueError
            Naming the missing columns.
        """
        frame = as_dataframe(data)
        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            raise ValueError(f"The {what} lacks column(s) {missing} that the metadata describes.")
        if len(frame) == 0:
            raise ValueError(f"The {what} is empty (0 rows).")
        return frame[self.names]

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        """Plain-JSON form: ``{"columns": [{...}, ...]}``."""
        return {"columns": [dataclasses.asdict(c) for c in self]}

    @classmethod
    def from_dict(cls, payload: dict, *, source: str = "metadata") -> "Metadata":
        """Rebuild from :meth:`to_dict` output.

        Raises
        ------
        ValueError
            If the payload is malformed or a column has an unknown kind or field.
        """
        if not isinstance(payload, dict) or not isinstance(payload.get("columns"), list):
            raise ValueError(f"{source}: expected an object with a 'columns' list.")
        known = {f.name for f in dataclasses.fields(ColumnMetadata)}
        columns = []
        for i, entry in enumerate(payload["columns"]):
            if not isinstance(entry, dict) or "name" not in entry or "kind" not in entry or "dtype" not in entry:
                raise ValueError(f"{source}: column entry {i} needs 'name', 'kind' and 'dtype'.")
            unknown = set(entry) - known
            if unknown:
                raise ValueError(f"{source}: column '{entry['name']}' has unknown field(s) {sorted(unknown)}.")
            try:
                columns.append(ColumnMetadata(**entry))
            except ValueError as exc:
                raise ValueError(f"{source}: {exc}") from None
        return cls(columns)

    def save(self, path: str | os.PathLike) -> None:
        """Write the metadata as JSON to ``path``, atomically (:func:`tabsynth.io.write_text`)."""
        write_text(path, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Metadata":
        """Read metadata written by :meth:`save` (or by hand).

        Raises
        ------
        FileNotFoundError, ValueError
            If the file is missing, is not JSON, or describes an unknown kind.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Metadata file '{path}' does not exist.")
        try:
            payload = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"Metadata file '{path}' is not valid JSON: {exc}") from exc
        return cls.from_dict(payload, source=f"Metadata file '{path}'")


    def completed_from(self, data: pd.DataFrame) -> tuple["Metadata", list[str]]:
        """A copy in which every column has what its kind needs, refitted from ``data`` where missing.

        A metadata file edited by hand (a column's ``kind`` changed to ``numerical`` without
        ``minimum`` and ``maximum``, say) would otherwise decode without clipping or rounding;
        the fields of other kinds (a stale ``categories`` list) are cleared. ``fit`` calls
        this on the training table and warns with the returned notes.

        Returns
        -------
        (Metadata, list of str)
            The completed copy (``self`` itself when nothing was missing) and one note per
            refitted column, naming its fields.

        Raises
        ------
        ValueError
            If a column's values do not fit its kind.
        """
        frame = as_dataframe(data)
        columns, notes = [], []
        for column in self:
            required = [f for f in _FITTED_FIELDS[column.kind]
                        if f != "datetime_format" and not (f == "decimals" and column.is_integer)]
            missing = [f for f in required if getattr(column, f) is None]
            if missing and column.name in frame.columns:
                column = _with_fitted_fields(column, _infer_column(column.name, frame[column.name],
                                                                   forced_kind=column.kind))
                notes.append(f"Column '{column.name}': {', '.join(missing)} taken from the training table "
                             f"(the metadata gives none for a {column.kind} column).")
            columns.append(column)
        if not notes:
            return self, []
        return Metadata(columns), notes

    def key_columns(self) -> list[str]:
        """Names of the ``key`` columns (keys several rows share), in table order."""
        return [c.name for c in self if c.kind == "key"]


# ---------------------------------------------------------------------- helpers
# What each kind needs that only the data can tell (update_column refits these).
_FITTED_FIELDS = {"numerical": ("minimum", "maximum", "decimals"),
                  "datetime": ("minimum", "maximum", "datetime_format"),
                  "categorical": ("categories",), "constant": ("value",), "id": (), "key": ()}
_ALL_FITTED = tuple(dict.fromkeys(f for fields in _FITTED_FIELDS.values() for f in fields))


def _with_fitted_fields(column: ColumnMetadata, refit: ColumnMetadata) -> ColumnMetadata:
    """``column`` moved to ``refit``'s kind: the new kind's fields from ``refit``, the other kinds'
    cleared, everything else (dtype, nulls, earlier edits) kept from ``column``."""
    fitted = {f: getattr(refit, f) if f in _FITTED_FIELDS[refit.kind] else None for f in _ALL_FITTED}
    return dataclasses.replace(column, kind=refit.kind, **fitted)


def _without_fitted_fields(column: ColumnMetadata, kind: str, given: set[str]) -> ColumnMetadata:
    """``column`` moved to ``kind`` without data: the new kind's fields must all be in ``given``.

    Raises
    ------
    ValueError
        Naming the fields to give (or ``refit_column``).
    """
    if kind not in KINDS:
        raise ValueError(f"Column '{column.name}': unknown kind '{kind}'; use one of {', '.join(KINDS)}.")
    optional = {"decimals": column.is_integer, "datetime_format": True}  # integers need none; formats are optional
    missing = [f for f in _FITTED_FIELDS[kind] if f not in given and not optional.get(f, False)]
    if missing:
        raise ValueError(
            f"Column '{column.name}': changing its kind to '{kind}' needs {', '.join(missing)}, which this "
            "metadata cannot refit (it was not inferred from a table still in memory); give them to "
            f"update_column, or call refit_column('{column.name}', data, kind='{kind}')."
        )
    return dataclasses.replace(column, **{f: None for f in _ALL_FITTED})


def as_dataframe(data: Any) -> pd.DataFrame:
    """Accept a pandas DataFrame or a pyarrow Table; return a DataFrame."""
    if isinstance(data, pd.DataFrame):
        return data
    try:
        import pyarrow as pa

        if isinstance(data, pa.Table):
            return data.to_pandas(date_as_object=False)
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass
    raise TypeError(f"Expected a pandas DataFrame or pyarrow Table, got {type(data).__name__}.")


def _to_json_scalar(value: Any) -> Any:
    """numpy scalars -> Python scalars so categories survive JSON unchanged."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decimals(values: np.ndarray) -> int:
    """Smallest number of decimals d (<= 10) with round(values, d) == values.

    The tolerance is relative to each value (float64 keeps ~16 significant digits), so a
    large value elsewhere in the column does not hide the decimals of small ones.
    """
    tolerance = 1e-10 * np.maximum(1.0, np.abs(values))
    for d in range(_MAX_DECIMALS + 1):
        if np.all(np.abs(np.round(values, d) - values) <= tolerance):
            return d
    return _MAX_DECIMALS


def _name_words(name: str) -> list[str]:
    """Lower-case words of a column name: ``customerId`` / ``CUSTOMER_ID`` -> ["customer", "id"]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def _key_kind(name: str, values: pd.Series, n_rows: int) -> str | None:
    """``"id"`` for a unique key per row, ``"key"`` for a key several rows share, else None.

    A column named like a key (``ID``, ``customer_id``, ``orderId``) with many distinct values
    is one: ``id`` when no value repeats, ``key`` when values repeat (cdnow's customer_id:
    23,570 customers over 69,659 transactions). Strings unique on every row (order numbers,
    e-mails) are ids whatever their name.
    """
    n_unique = values.nunique()
    if _ID_WORDS & set(_name_words(name)) and n_unique > max(50, 0.1 * n_rows):
        return "id" if n_unique == len(values) else "key"
    if values.dtype.kind not in "iufbM" and n_unique == len(values) and len(values) > 50:
        return "id"
    return None


_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%Y%m%d")


def _string_datetime_format(values: pd.Series) -> str | None:
    """The first known date format that parses every (non-null) string, else None."""
    # Each distinct string once: a category repeated over 32k rows is parsed once, not 32k
    # times per candidate format (1.6 s of Adult's inference before).
    sample = pd.Series(values.astype(str).unique())
    for fmt in _DATE_FORMATS:
        parsed = pd.to_datetime(sample, format=fmt, errors="coerce")
        if parsed.notna().all():
            return fmt
    return None


def _classify_objects(name: str, values: pd.Series) -> str:
    """Type family of a pandas object column: 'str', 'bool', 'number', 'datetime'."""
    kinds = set()
    for v in values:
        if isinstance(v, (bool, np.bool_)):
            kinds.add("bool")
        elif isinstance(v, (int, float, np.integer, np.floating)):
            kinds.add("number")
        elif isinstance(v, str):
            kinds.add("str")
        elif isinstance(v, (dt.date, dt.datetime, pd.Timestamp, np.datetime64)):
            kinds.add("datetime")
        else:
            kinds.add(type(v).__name__)
    if len(kinds) != 1:
        raise ValueError(
            f"Column '{name}' mixes values of incompatible types ({', '.join(sorted(kinds))}); "
            "convert it to a single type before fitting, e.g. df[col].astype(str)."
        )
    return kinds.pop()


def _infer_column(name: str, series: pd.Series, forced_kind: str | None = None) -> ColumnMetadata:
    n_rows = len(series)
    present = series.dropna()
    if len(present) == 0:
        raise ValueError(f"Column '{name}' is entirely null; drop it before fitting.")
    null_rate = float(1 - len(present) / n_rows)
    base = dict(name=name, dtype=str(series.dtype), nullable=null_rate > 0, null_rate=null_rate)

    datetime_format = None
    if series.dtype == object:
        family = _classify_objects(name, present)
        if family == "number":
            present = pd.to_numeric(present)
            base["dtype"] = str(present.dtype)
        elif family == "datetime":
            present = pd.to_datetime(present)
            base["dtype"] = "datetime64[ns]"
        elif family == "bool":
            present = present.astype(bool)
            base["dtype"] = "bool"
    if present.dtype.kind in "OUT" or isinstance(present.dtype, pd.StringDtype):
        datetime_format = _string_datetime_format(present)
        if datetime_format is not None:
            present = pd.to_datetime(present.astype(str), format=datetime_format)

    kind = forced_kind or _choose_kind(name, series, present, n_rows, datetime_format)
    meta = ColumnMetadata(kind=kind, **base)
    try:
        _fit_kind_fields(meta, series, present, datetime_format)
    except (ValueError, TypeError) as exc:
        if forced_kind is None:
            raise
        raise ValueError(f"Column '{name}': its values do not fit kind '{kind}' ({exc}); "
                         "choose another kind.") from None
    return meta


def _fit_kind_fields(meta: ColumnMetadata, series: pd.Series, present: pd.Series,
                     datetime_format: str | None) -> None:
    """Fill in what ``meta.kind`` needs from the column's values (``present``: non-null, parsed)."""
    kind = meta.kind
    if kind == "constant":
        meta.value = _to_json_scalar(present.iloc[0]) if datetime_format is None else str(series.dropna().iloc[0])
        if isinstance(meta.value, pd.Timestamp):
            meta.value = meta.value.isoformat()
    elif kind == "numerical":
        numbers = pd.to_numeric(present).to_numpy(dtype=float)
        meta.minimum, meta.maximum = float(numbers.min()), float(numbers.max())
        meta.decimals = 0 if present.dtype.kind in "iu" else _decimals(numbers)
    elif kind == "datetime":
        stamps = pd.to_datetime(present)
        meta.minimum, meta.maximum = stamps.min().isoformat(), stamps.max().isoformat()
        meta.datetime_format = datetime_format
    elif kind == "categorical":
        counts = series.dropna().value_counts(sort=True)
        meta.categories = [_to_json_scalar(v) for v in counts.index]


def _choose_kind(name: str, raw: pd.Series, present: pd.Series, n_rows: int, datetime_format: str | None) -> str:
    n_unique = present.nunique()
    if n_unique == 1:
        # One value and some nulls is two states (value / null): learn it as a category.
        return "constant" if len(present) == n_rows else "categorical"
    if present.dtype.kind == "M" or datetime_format is not None:
        return "datetime"
    if present.dtype.kind == "b":
        return "categorical"
    key_kind = _key_kind(name, present, n_rows)
    if key_kind is not None:
        return key_kind
    if present.dtype.kind in "iuf":
        values = present.to_numpy(dtype=float)
        # Integers, or floats holding integers (an integer column with nulls read as float64).
        integral = bool(np.all(values == np.round(values)))
        contiguous = integral and values.max() - values.min() + 1 == n_unique
        # A handful of values (SpecialDay: 0, 0.2 .. 1) or a run of codes (Browser: 1..13) are levels.
        if n_unique <= MAX_CODES_ANY or (contiguous and n_unique <= MAX_CODES_CONTIGUOUS):
            return "categorical"
        return "numerical"
    return "categorical"
