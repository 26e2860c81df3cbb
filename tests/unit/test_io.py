"""Reading and writing tables: CSV(.gz) and Parquet round trips, atomic writes, error messages."""

from __future__ import annotations

import gzip
import os
import re

import pandas as pd
import pyarrow as pa
import pytest
from pandas.testing import assert_frame_equal

from tabsynth import read_table, write_table
from tabsynth.io import same_file

SHAPES = {
    "shoppers": (12_330, 18),
    "credit": (30_000, 25),
    "adult_train": (32_561, 15),
    "adult_test": (16_281, 15),
    "cdnow": (69_659, 4),
}
SUFFIXES = ".csv, .csv.gz, .csv.bz2, .parquet, .pq"


def _whole(message: str) -> str:
    return "^" + re.escape(message) + "$"


@pytest.fixture(params=list(SHAPES))
def table(request):
    return request.param, request.getfixturevalue(request.param)


# ---------------------------------------------------------------------- reading
def test_read_real_tables(table):
    name, frame = table
    assert frame.shape == SHAPES[name]
    assert frame.index.equals(pd.RangeIndex(len(frame)))
    assert frame.columns.is_unique


def test_read_csv_gz_types_columns(shoppers, credit, adult_train, cdnow):
    assert shoppers["Revenue"].dtype == bool and shoppers["Weekend"].dtype == bool
    assert shoppers["Administrative"].dtype == "int64"
    assert shoppers["PageValues"].dtype == "float64"
    assert shoppers["Month"].dtype == "str"
    assert shoppers.columns[0] == "Administrative" and shoppers.columns[-1] == "Revenue"
    assert credit["LIMIT_BAL"].dtype == "int64"
    assert list(credit.columns[:3]) == ["ID", "LIMIT_BAL", "SEX"]
    assert adult_train["workclass"].dtype == "str"
    # ISO dates become datetimes, not strings or Python date objects.
    assert pd.api.types.is_datetime64_any_dtype(cdnow["date"])
    assert cdnow["date"].min() == pd.Timestamp("1997-01-01")
    assert cdnow["date"].max() == pd.Timestamp("1998-06-30")
    assert cdnow["dollar_value"].dtype == "float64"


def test_read_matches_gzip_text(repo_root, credit):
    """read_table parses the gzip file to the same values pandas reads from the raw text."""
    with gzip.open(repo_root / "sample_data" / "credit_default.csv.gz", "rt") as handle:
        header = handle.readline().rstrip("\n").split(",")
        first = handle.readline().rstrip("\n").split(",")
    assert header == list(credit.columns)
    assert [int(v) for v in first] == credit.iloc[0].tolist()


def test_read_accepts_str_paths(repo_root, shoppers):
    assert_frame_equal(read_table(str(repo_root / "sample_data" / "online_shoppers.csv.gz")), shoppers)


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize("suffix", [".parquet", ".pq", ".csv.gz", ".csv"])
def test_write_read_round_trip(table, suffix, tmp_path):
    name, frame = table
    if suffix.startswith(".csv"):  # text formats are slow to write: a seeded sample is enough
        frame = frame.sample(n=5000, random_state=0).reset_index(drop=True)
    path = tmp_path / f"{name}{suffix}"
    assert write_table(frame, path) == path
    back = read_table(path)
    assert_frame_equal(back, frame)  # values, column order and dtypes
    assert back.dtypes.to_dict() == frame.dtypes.to_dict()


def test_parquet_round_trip_of_nullable_types(shoppers, tmp_path):
    frame = shoppers.head(2000).copy()
    mask = frame.index % 5 == 0
    frame["Administrative"] = frame["Administrative"].astype("Int64").mask(mask)
    frame["PageValues"] = frame["PageValues"].mask(mask)
    frame["VisitorType"] = frame["VisitorType"].mask(mask, None)
    frame["Revenue"] = frame["Revenue"].astype("boolean").mask(mask)
    back = read_table(write_table(frame, tmp_path / "nulls.parquet"))
    assert_frame_equal(back, frame)


def test_gzip_output_is_compressed(credit, tmp_path):
    path = write_table(credit, tmp_path / "credit.csv.gz")
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    plain = write_table(credit, tmp_path / "credit.csv")
    assert plain.read_bytes().startswith(b"ID,LIMIT_BAL,")
    assert path.stat().st_size < plain.stat().st_size / 2


# ---------------------------------------------------------------------- atomic writes
def test_write_leaves_no_temporary_files(shoppers, tmp_path):
    write_table(shoppers, tmp_path / "a.parquet")
    write_table(shoppers, tmp_path / "b.csv.gz")
    write_table(shoppers, tmp_path / "a.parquet")  # overwrite
    assert sorted(os.listdir(tmp_path)) == ["a.parquet", "b.csv.gz"]


def test_write_creates_parent_folders(shoppers, tmp_path):
    path = write_table(shoppers, tmp_path / "out" / "deep" / "shoppers.parquet")
    assert path.is_file()
    assert os.listdir(path.parent) == ["shoppers.parquet"]


def test_refuses_to_overwrite(credit, shoppers, tmp_path):
    path = write_table(credit, tmp_path / "table.parquet")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match=_whole(f"Output file '{path}' already exists; choose another name.")):
        write_table(shoppers, path, overwrite=False)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["table.parquet"]
    # The default replaces it.
    write_table(shoppers, path)
    assert_frame_equal(read_table(path), shoppers)
    assert os.listdir(tmp_path) == ["table.parquet"]


def test_failed_write_keeps_old_file_and_leaves_no_temporary(credit, tmp_path):
    path = write_table(credit, tmp_path / "credit.parquet")
    before = path.read_bytes()
    broken = credit.copy()
    broken["EDUCATION"] = broken["EDUCATION"].astype(object)
    broken.loc[3, "EDUCATION"] = "unknown"  # int and str: pyarrow cannot convert the column
    with pytest.raises(pa.ArrowInvalid):
        write_table(broken, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["credit.parquet"]
    with pytest.raises(pa.ArrowInvalid):
        write_table(broken, tmp_path / "new.parquet")
    assert os.listdir(tmp_path) == ["credit.parquet"]


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("name", ["table.xlsx", "table.json", "table.csv.zip", "table"])
def test_unknown_extension(credit, tmp_path, name):
    path = tmp_path / name
    message = f"Cannot tell the format of '{path}': use a name ending in {SUFFIXES}."
    with pytest.raises(ValueError, match=_whole(message)):
        read_table(path)
    with pytest.raises(ValueError, match=_whole(message)):
        write_table(credit, path)
    assert os.listdir(tmp_path) == []


def test_extension_is_case_insensitive(shoppers, tmp_path):
    path = write_table(shoppers, tmp_path / "SHOPPERS.PARQUET")
    assert_frame_equal(read_table(path), shoppers)


def test_missing_file(tmp_path):
    path = tmp_path / "absent.csv.gz"
    with pytest.raises(FileNotFoundError, match=_whole(f"Input file '{path}' does not exist.")):
        read_table(path)


def test_folder_is_not_a_file(tmp_path):
    folder = tmp_path / "data.parquet"
    folder.mkdir()
    with pytest.raises(FileNotFoundError, match=_whole(f"Input file '{folder}' does not exist.")):
        read_table(folder)


def test_unreadable_parquet(repo_root, tmp_path):
    path = tmp_path / "credit.parquet"
    path.write_bytes((repo_root / "sample_data" / "credit_default.csv.gz").read_bytes())  # gzip CSV bytes
    with pytest.raises(ValueError) as exc_info:
        read_table(path)
    assert str(exc_info.value).startswith(f"Cannot read '{path}' as parquet: ")


def test_same_file(repo_root, tmp_path, shoppers):
    sample = repo_root / "sample_data" / "online_shoppers.csv.gz"
    assert same_file(sample, repo_root / "sample_data" / ".." / "sample_data" / "online_shoppers.csv.gz")
    copy = write_table(shoppers, tmp_path / "online_shoppers.csv.gz")
    assert not same_file(sample, copy)
    assert not same_file(sample, tmp_path / "absent.csv")


# ---------------------------------------------------------------------- known bugs
def test_csv_bz2_round_trip(credit, tmp_path):
    path = write_table(credit, tmp_path / "credit.csv.bz2")
    assert_frame_equal(read_table(path), credit)


def test_written_tables_follow_the_umask(shoppers, tmp_path):
    """Atomic writes go through mkstemp (0600); the renamed output must be readable like any file."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = write_table(shoppers.head(50), tmp_path / "out.csv")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
