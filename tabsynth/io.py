"""Reading and writing tables (CSV, gzip CSV, Parquet) through pyarrow.

Outputs are written atomically: to a temporary file in the target folder, then
renamed, so an interrupted run never leaves a half-written table behind.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2")
PARQUET_SUFFIXES = (".parquet", ".pq")


def _table_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise ValueError(
        f"Cannot tell the format of '{path}': use a name ending in "
        f"{', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}."
    )


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV (optionally gzip/bz2 compressed) or Parquet file into pandas.

    pyarrow parses the file: CSV columns get typed (integers, floats, booleans
    written as true/false, ISO dates and timestamps) and empty fields become nulls.

    Parameters
    ----------
    path : str or path-like
        File ending in ``.csv``, ``.csv.gz``, ``.csv.bz2``, ``.parquet`` or ``.pq``.

    Returns
    -------
    pandas.DataFrame
        One column per file column, in file order.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the extension is unknown or the file cannot be parsed.
    """
    path = Path(path)
    fmt = _table_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"Input file '{path}' does not exist.")
    try:
        if fmt == "csv":
            table = pacsv.read_csv(path)
        else:
            table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValueError(f"Cannot read '{path}' as {fmt}: {exc}") from exc
    # date32 columns become datetime64 rather than Python date objects, so they
    # are typed as datetimes downstream.
    return table.to_pandas(date_as_object=False)


def write_table(frame: pd.DataFrame, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write ``frame`` to CSV or Parquet (by extension), atomically.

    The table goes to a temporary file beside ``path`` and is renamed into place
    only once complete.

    Parameters
    ----------
    frame : pandas.DataFrame
    path : str or path-like
        Output file; ``.csv``/``.csv.gz`` or ``.parquet``/``.pq``.
    overwrite : bool, default True
        If False and ``path`` exists, raise instead of replacing it.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    FileExistsError
        If ``overwrite`` is False and ``path`` exists.
    ValueError
        If the extension is unknown.
    """
    path = Path(path)
    fmt = _table_format(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"Output file '{path}' already exists; choose another name.")
    with atomic_output(path) as tmp_name:
        if fmt == "csv":
            compression = {".gz": "gzip", ".bz2": "bz2"}.get(path.suffix.lower())
            frame.to_csv(tmp_name, index=False, compression=compression)
        else:
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_name)
    return path


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name the same existing file (used to refuse overwriting input)."""
    a, b = Path(a), Path(b)
    if not (a.exists() and b.exists()):
        return a.resolve() == b.resolve()
    return os.path.samefile(a, b)


@contextmanager
def atomic_output(path: str | os.PathLike):
    """Yield a temporary file name beside ``path``; on success fsync it and rename it to ``path``.

    The file gets the permissions a plain ``open(path, "w")`` would have (``mkstemp``
    makes it owner-only, 0600). On any error the temporary file is removed and ``path``
    is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp_name
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        with open(tmp_name, "rb") as handle:  # on disk before the rename makes it visible
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_output`."""
    with atomic_output(path) as tmp_name:
        Path(tmp_name).write_text(text, encoding="utf-8")
    return Path(path)
