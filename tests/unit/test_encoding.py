"""TableEncoder on the real tables: matrix layout, exact round trips, nulls, seeds, state, errors."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal
from threadpoolctl import threadpool_limits

from tabsynth import Metadata, TableEncoder
from tabsynth.encoding import check_spans
from tabsynth.encoding.categorical import CategoricalEncoder
from tabsynth.encoding.numerical import NumericalEncoder

ROUND_TRIP_TABLES = ["shoppers", "credit", "adult_train", "cdnow"]
ONE_HOT_ROLES = ("mode", "category", "null")
REL_TOL = 1e-6


def _whole(message: str) -> str:
    return "^" + re.escape(message) + "$"


@dataclass
class Encoded:
    name: str
    frame: pd.DataFrame
    meta: Metadata
    encoder: TableEncoder
    matrix: np.ndarray
    decoded: pd.DataFrame


def _encode(name: str, frame: pd.DataFrame, seed: int = 0) -> Encoded:
    meta = Metadata.infer(frame)
    encoder = TableEncoder(meta, random_state=seed).fit(frame)
    matrix = encoder.transform(frame)
    return Encoded(name, frame, meta, encoder, matrix, encoder.inverse_transform(matrix))


def _sample(frame: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    return frame.sample(n=n, random_state=seed).reset_index(drop=True)


def _column_encoder(encoder: TableEncoder, name: str):
    return encoder.encoders_[encoder.metadata.names.index(name)]


def assert_round_trip(frame: pd.DataFrame, meta: Metadata, decoded: pd.DataFrame,
                      dtypes: dict[str, str] | None = None) -> None:
    """``decoded`` restores ``frame``: same columns, dtypes, nulls; categories and datetimes
    exactly, integers exactly, floats within 1e-6 of the column range; ids are fresh keys."""
    frame = frame.reset_index(drop=True)
    assert list(decoded.columns) == list(frame.columns)
    expected_dtypes = {name: str(dtype) for name, dtype in frame.dtypes.items()}
    expected_dtypes.update(dtypes or {})
    assert {name: str(dtype) for name, dtype in decoded.dtypes.items()} == expected_dtypes
    assert isinstance(decoded.index, pd.RangeIndex) and len(decoded) == len(frame)
    for column in meta:
        real, back = frame[column.name], decoded[column.name]
        assert np.array_equal(real.isna().to_numpy(), back.isna().to_numpy()), f"{column.name}: nulls moved"
        if column.kind in ("categorical", "datetime", "constant"):
            assert_series_equal(back, real.astype(expected_dtypes[column.name]))
        elif column.kind == "numerical":
            present = real.notna().to_numpy()
            a = real.to_numpy(dtype=float, na_value=np.nan)[present]
            b = back.to_numpy(dtype=float, na_value=np.nan)[present]
            if column.is_integer:
                assert np.array_equal(a, b), f"{column.name}: integers changed"
            else:
                scale = column.maximum - column.minimum
                assert np.abs(a - b).max() <= REL_TOL * scale, column.name
        elif column.kind == "id":
            # Fresh consecutive keys that never equal a real key.
            assert back.is_unique and not set(back.tolist()) & set(frame[column.name].tolist()), column.name
            if column.is_integer:
                start = int(frame[column.name].max()) + 1
                assert back.tolist() == list(range(start, start + len(frame))), column.name
        elif column.kind == "key":
            # Fresh keys shared by runs of rows, as many rows per key as the real table has.
            assert not set(back.tolist()) & set(frame[column.name].tolist()), column.name
            real_sizes, sizes = real.value_counts(), back.value_counts()
            assert sizes.max() <= real_sizes.max() and abs(sizes.mean() - real_sizes.mean()) < 0.1 * real_sizes.mean()
        else:  # pragma: no cover
            raise AssertionError(column.kind)


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """The mixture fits run on tiny 1-D problems: on a shared 2-core machine extra threads
    only add contention, so this module runs them on one thread (BLAS and OpenMP)."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def _cache():
    return {}


@pytest.fixture(params=ROUND_TRIP_TABLES)
def encoded(request, _cache) -> Encoded:
    """Every full real table, encoded once per module with seed 0 (shared: do not edit)."""
    name = request.param
    if name not in _cache:
        _cache[name] = _encode(name, request.getfixturevalue(name))
    return _cache[name]


def _cached(request, _cache, name: str) -> Encoded:
    if name not in _cache:
        _cache[name] = _encode(name, request.getfixturevalue(name))
    return _cache[name]


@pytest.fixture
def shoppers_enc(request, _cache) -> Encoded:
    return _cached(request, _cache, "shoppers")


@pytest.fixture
def credit_enc(request, _cache) -> Encoded:
    return _cached(request, _cache, "credit")


@pytest.fixture
def adult_enc(request, _cache) -> Encoded:
    return _cached(request, _cache, "adult_train")


@pytest.fixture(scope="module")
def shoppers_nulls(shoppers):
    """Full shoppers copy with ~10% NaN in PageValues and None in VisitorType, plus nulls in
    an Int64 count (Administrative), an Int64 code column (TrafficType) and a bool column."""
    frame = shoppers.copy()
    rng = np.random.default_rng(3)
    n = len(frame)
    masks = {}
    for column, share in [("PageValues", 0.10), ("VisitorType", 0.10), ("Administrative", 0.05),
                          ("TrafficType", 0.05), ("Weekend", 0.05)]:
        mask = np.zeros(n, dtype=bool)
        mask[rng.choice(n, int(round(share * n)), replace=False)] = True
        masks[column] = mask
    frame["PageValues"] = frame["PageValues"].mask(masks["PageValues"])
    frame["VisitorType"] = frame["VisitorType"].mask(masks["VisitorType"], None)
    frame["Administrative"] = frame["Administrative"].astype("Int64").mask(masks["Administrative"])
    frame["TrafficType"] = frame["TrafficType"].astype("Int64").mask(masks["TrafficType"])
    frame["Weekend"] = frame["Weekend"].astype(object).mask(masks["Weekend"], None)
    return _encode("shoppers_nulls", frame), masks


# ---------------------------------------------------------------------- layout
def test_matrix_is_float32_with_width_columns(encoded):
    matrix, encoder = encoded.matrix, encoded.encoder
    assert matrix.dtype == np.float32
    assert matrix.shape == (len(encoded.frame), encoder.width_)
    assert np.isfinite(matrix).all()
    check_spans(encoder.spans_, encoder.width_)
    assert encoder.width_ == sum(span.width for span in encoder.spans_)


def test_spans_follow_metadata(encoded):
    meta, encoder = encoded.meta, encoded.encoder
    learned = [c.name for c in meta if c.kind not in ("id", "key", "constant")]
    order = list(dict.fromkeys(span.column for span in encoder.spans_))
    assert order == learned
    for column in meta:
        spans = [s for s in encoder.spans_ if s.column == column.name]
        roles = [(s.role, s.width) for s in spans]
        if column.kind in ("numerical", "datetime"):
            assert roles[0] == ("value", 1)
            assert roles[1][0] == "mode" and 1 <= roles[1][1] <= encoder.max_modes + 1  # + tail mode
            assert roles[2:] == ([("null", 2)] if column.nullable else [])
            assert [s.activation for s in spans][:2] == ["tanh", "softmax"]
        elif column.kind == "categorical":
            assert roles == [("category", len(column.categories) + int(column.nullable))]
            assert spans[0].activation == "softmax"
        else:
            assert roles == []


def test_value_slots_lie_in_unit_interval(encoded):
    value_columns = [s.start for s in encoded.encoder.spans_ if s.role == "value"]
    assert value_columns
    values = encoded.matrix[:, value_columns]
    assert values.min() >= -1.0 and values.max() <= 1.0


def test_one_hot_blocks_have_one_one_per_row(encoded):
    blocks = [s for s in encoded.encoder.spans_ if s.role in ONE_HOT_ROLES]
    assert blocks
    for span in blocks:
        block = encoded.matrix[:, span.start : span.stop]
        assert np.isin(block, (0.0, 1.0)).all(), span
        assert (block.sum(axis=1) == 1.0).all(), span


def test_category_block_is_the_value(shoppers_enc):
    span, slot = shoppers_enc.encoder.condition_slot("Revenue", True)
    block = shoppers_enc.matrix[:, span.start : span.stop]
    assert np.array_equal(block[:, slot] == 1.0, shoppers_enc.frame["Revenue"].to_numpy())


# ---------------------------------------------------------------------- round trips
def test_round_trip_restores_the_table(encoded):
    assert_round_trip(encoded.frame, encoded.meta, encoded.decoded)


def test_round_trip_columns_and_dtypes(encoded):
    frame, decoded = encoded.frame, encoded.decoded
    assert list(decoded.columns) == list(frame.columns)
    assert decoded.dtypes.equals(frame.dtypes)


def test_round_trip_with_nulls(shoppers_nulls):
    enc, masks = shoppers_nulls
    frame, decoded, meta = enc.frame, enc.decoded, enc.meta
    for name, mask in masks.items():
        assert meta[name].nullable
        assert np.array_equal(decoded[name].isna().to_numpy(), mask), name
    # Sensible dtypes: floats stay float, strings stay strings, integers with nulls
    # become Int64, booleans with nulls become the nullable boolean.
    assert decoded["PageValues"].dtype == np.float64
    assert decoded["VisitorType"].dtype == frame["VisitorType"].dtype == meta["VisitorType"].dtype == "str"
    assert decoded["Administrative"].dtype == "Int64"
    assert decoded["TrafficType"].dtype == "Int64"
    assert str(decoded["Weekend"].dtype) == "boolean"
    assert frame["Weekend"].dtype == object  # the input had None among True/False objects
    assert_round_trip(frame, meta, decoded, dtypes={"Weekend": "boolean"})


def test_null_slots_with_nulls(shoppers_nulls):
    enc, masks = shoppers_nulls
    spans = {(s.column, s.role): s for s in enc.encoder.spans_}
    null = spans[("PageValues", "null")]
    assert null.width == 2
    assert np.array_equal(enc.matrix[:, null.start + 1] == 1.0, masks["PageValues"])
    category = spans[("VisitorType", "category")]
    assert category.width == len(enc.meta["VisitorType"].categories) + 1 == 4
    assert np.array_equal(enc.matrix[:, category.stop - 1] == 1.0, masks["VisitorType"])


def test_integer_column_with_nulls_comes_back_as_Int64(credit):
    frame = _sample(credit[["LIMIT_BAL", "AGE", "EDUCATION"]], 3000, seed=1)
    mask = np.arange(len(frame)) % 7 == 0
    for name in frame.columns:
        frame[name] = frame[name].astype("Int64").mask(mask)
    enc = _encode("credit_Int64", frame)
    assert {c.name: c.kind for c in enc.meta} == {"LIMIT_BAL": "numerical", "AGE": "numerical",
                                                  "EDUCATION": "categorical"}
    assert all(str(t) == "Int64" for t in enc.decoded.dtypes)
    assert_round_trip(frame, enc.meta, enc.decoded)


def test_extreme_value_survives_round_trip(credit_enc):
    """PAY_AMT2 peaks at 1,684,259, far outside the mixture fitted on a 5,000-row
    subsample: the tail mode must cover it so it is neither clipped nor rounded away."""
    frame, decoded, encoder = credit_enc.frame, credit_enc.decoded, credit_enc.encoder
    row = int(frame["PAY_AMT2"].idxmax())
    assert frame.loc[row, "PAY_AMT2"] == 1_684_259
    assert decoded.loc[row, "PAY_AMT2"] == 1_684_259
    assert decoded["PAY_AMT2"].max() == 1_684_259
    column = _column_encoder(encoder, "PAY_AMT2")
    assert isinstance(column, NumericalEncoder)
    # Some mode's +-0.99 * 4 sigma window holds the maximum, so it is not clipped.
    assert (np.abs(1_684_259 - column.means_) <= 0.99 * 4 * column.stds_).any()
    for name in [f"PAY_AMT{i}" for i in range(1, 7)] + [f"BILL_AMT{i}" for i in range(1, 7)] + ["LIMIT_BAL"]:
        for rows in (frame[name].nlargest(20).index, frame[name].nsmallest(20).index):
            assert decoded.loc[rows, name].tolist() == frame.loc[rows, name].tolist(), name


def test_round_trip_of_string_dates(cdnow):
    frame = _sample(cdnow, 5000, seed=2)
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
    enc = _encode("cdnow_text_dates", frame)
    assert enc.meta["date"].kind == "datetime"
    assert enc.meta["date"].datetime_format == "%Y-%m-%d"
    assert enc.decoded["date"].dtype == frame["date"].dtype
    assert_round_trip(frame, enc.meta, enc.decoded)


def test_round_trip_of_dates_with_nulls(cdnow):
    frame = _sample(cdnow, 5000, seed=3)
    mask = np.arange(len(frame)) % 9 == 4
    frame["date"] = frame["date"].mask(mask)
    enc = _encode("cdnow_null_dates", frame)
    assert enc.meta["date"].nullable
    assert np.array_equal(enc.decoded["date"].isna().to_numpy(), mask)
    assert_round_trip(frame, enc.meta, enc.decoded)


def test_key_column_gets_the_real_number_of_rows_per_key(cdnow):
    """cdnow's customer_id is a key (3.0 transactions per customer): decoding draws each fresh key's
    number of rows from the real distribution, for both views, seeded by the given generator."""
    from tabsynth.encoding import TokenTable

    meta = Metadata.infer(cdnow)
    real_sizes = cdnow["customer_id"].value_counts()
    real_share = real_sizes.value_counts(normalize=True).sort_index()
    continuous = TableEncoder(meta, random_state=0).fit(cdnow)
    for encoder in (continuous, TokenTable(meta).fit(cdnow)):
        data = encoder.transform(cdnow)
        keys = encoder.inverse_transform(data, np.random.default_rng(1))["customer_id"]
        assert len(keys) == len(cdnow) and keys.min() > cdnow["customer_id"].max()
        sizes = keys.value_counts()
        share = sizes.value_counts(normalize=True).reindex(real_share.index, fill_value=0.0)
        assert (share - real_share).abs().max() < 0.01  # one-purchase customers: about half the keys in both
        assert abs(len(sizes) - len(real_sizes)) < 0.02 * len(real_sizes)
        assert keys.is_monotonic_increasing  # the rows of one key are next to each other
        assert_series_equal(keys, encoder.inverse_transform(data, np.random.default_rng(1))["customer_id"])
    rebuilt = TableEncoder.from_state(meta, json.loads(json.dumps(continuous.state())))
    assert rebuilt.state() == continuous.state()


def test_round_trip_of_constant_column(credit):
    columns = ["ID", "SEX", "EDUCATION", "AGE", "PAY_0", "PAY_AMT2", "default payment next month"]
    frame = _sample(credit.loc[credit["SEX"] == 2, columns], 2000, seed=4)
    enc = _encode("credit_women", frame)
    assert enc.meta["SEX"].kind == "constant"
    assert not [s for s in enc.encoder.spans_ if s.column == "SEX"]
    assert (enc.decoded["SEX"] == 2).all()
    assert_round_trip(frame, enc.meta, enc.decoded)


def test_transform_takes_columns_in_any_order(shoppers_enc):
    reordered = shoppers_enc.frame[list(reversed(shoppers_enc.frame.columns))]
    decoded = shoppers_enc.encoder.inverse_transform(shoppers_enc.encoder.transform(reordered))
    assert_round_trip(shoppers_enc.frame, shoppers_enc.meta, decoded)


def test_every_transform_decodes_to_the_table(shoppers_enc):
    """Modes are sampled anew on each transform (the generator moves on), but any sample
    decodes back to the table."""
    encoder = shoppers_enc.encoder
    again = encoder.transform(shoppers_enc.frame)
    assert again.shape == shoppers_enc.matrix.shape
    assert not np.array_equal(again, shoppers_enc.matrix)
    assert_round_trip(shoppers_enc.frame, shoppers_enc.meta, encoder.inverse_transform(again))


def test_adult_test_through_the_adult_train_encoder(adult_enc, adult_test):
    decoded = adult_enc.encoder.inverse_transform(adult_enc.encoder.transform(adult_test))
    assert decoded.dtypes.equals(adult_test.dtypes)
    for column in adult_enc.meta:
        if column.kind == "categorical":
            assert_series_equal(decoded[column.name], adult_test[column.name])
        else:  # clipped to the bounds seen in training
            assert decoded[column.name].between(column.minimum, column.maximum).all(), column.name


# ---------------------------------------------------------------------- seeds and state
def test_same_seed_same_matrix(request, _cache, cdnow):
    first = _cached(request, _cache, "cdnow")
    second = _encode("cdnow_again", cdnow, seed=0)
    assert np.array_equal(first.matrix, second.matrix)
    assert first.encoder.state() == second.encoder.state()
    other = _encode("cdnow_seed_1", cdnow, seed=1)
    assert not np.array_equal(first.matrix, other.matrix)
    assert_frame_equal(other.decoded, first.decoded)


def test_state_round_trip(encoded):
    state = encoded.encoder.state()
    restored_state = json.loads(json.dumps(state))  # plain JSON
    assert restored_state == state
    rebuilt = TableEncoder.from_state(encoded.meta, restored_state)
    assert rebuilt.spans_ == encoded.encoder.spans_
    assert rebuilt.width_ == encoded.encoder.width_
    assert_frame_equal(rebuilt.inverse_transform(encoded.matrix), encoded.decoded)


def test_state_round_trip_through_saved_metadata(shoppers_nulls, tmp_path):
    enc, _ = shoppers_nulls
    enc.meta.save(tmp_path / "meta.json")
    (tmp_path / "state.json").write_text(json.dumps(enc.encoder.state()))
    rebuilt = TableEncoder.from_state(Metadata.load(tmp_path / "meta.json"),
                                      json.loads((tmp_path / "state.json").read_text()))
    assert_frame_equal(rebuilt.inverse_transform(enc.matrix), enc.decoded)


def test_state_that_does_not_match_metadata(shoppers_enc):
    meta = copy.deepcopy(shoppers_enc.meta)
    meta.update_column("Month", categories=meta["Month"].categories + ["Jan"])
    with pytest.raises(ValueError, match=_whole(
        "The saved encoder state does not match its metadata (span layout differs)."
    )):
        TableEncoder.from_state(meta, shoppers_enc.encoder.state())


# ---------------------------------------------------------------------- conditions
def test_condition_slot(shoppers_enc):
    encoder, meta = shoppers_enc.encoder, shoppers_enc.meta
    span, slot = encoder.condition_slot("Revenue", True)
    assert (span.column, span.role, span.width) == ("Revenue", "category", 2)
    assert slot == meta["Revenue"].categories.index(True) == 1
    assert encoder.condition_slot("Revenue", "True") == (span, 1)
    assert encoder.condition_slot("Revenue", "false") == (span, 0)
    span, slot = encoder.condition_slot("Month", "Nov")
    assert meta["Month"].categories[slot] == "Nov"
    span, slot = encoder.condition_slot("Browser", "13")
    assert meta["Browser"].categories[slot] == 13


def test_condition_on_unknown_column(shoppers_enc):
    names = list(shoppers_enc.frame.columns)
    with pytest.raises(ValueError, match=_whole(f"Condition on unknown column 'revenue'; columns are {names}.")):
        shoppers_enc.encoder.condition_slot("revenue", True)


@pytest.mark.parametrize("column, kind", [("PageValues", "numerical"), ("ID", "id")])
def test_condition_on_column_that_is_not_categorical(shoppers_enc, credit_enc, column, kind):
    encoder = (credit_enc if column == "ID" else shoppers_enc).encoder
    message = (f"Condition on column '{column}' of kind '{kind}': CTGAN and TVAE condition only on "
               "categorical and boolean columns (and on nulls of any column).")
    with pytest.raises(ValueError, match=_whole(message)):
        encoder.condition_slot(column, 1)


def test_condition_on_unknown_value(shoppers_enc):
    encoder, meta = shoppers_enc.encoder, shoppers_enc.meta
    with pytest.raises(ValueError, match=_whole(
        "Value 'maybe' is not a category of column 'Revenue'; allowed values: [False, True]."
    )):
        encoder.condition_slot("Revenue", "maybe")
    # The shoppers data have no January.
    with pytest.raises(ValueError, match=_whole(
        f"Value 'Jan' is not a category of column 'Month'; allowed values: {meta['Month'].categories}."
    )):
        encoder.condition_slot("Month", "Jan")


# ---------------------------------------------------------------------- errors
def test_codes_of_unseen_category(shoppers_enc):
    column = _column_encoder(shoppers_enc.encoder, "VisitorType")
    assert isinstance(column, CategoricalEncoder)
    series = shoppers_enc.frame["VisitorType"].head(50).copy()
    assert column.codes(series).tolist() == [shoppers_enc.meta["VisitorType"].categories.index(v) for v in series]
    series.iloc[[3, 7]] = "Bot"
    series.iloc[9] = "Crawler"
    message = ("Column 'VisitorType' holds value(s) ['Bot', 'Crawler'] that are not among its categories "
               "['Returning_Visitor', 'New_Visitor', 'Other']; add them to the metadata or drop those rows.")
    with pytest.raises(ValueError, match=_whole(message)):
        column.codes(series)


def test_codes_tell_bool_from_int(shoppers_enc, credit_enc):
    revenue = _column_encoder(shoppers_enc.encoder, "Revenue")
    with pytest.raises(ValueError, match=_whole(
        "Column 'Revenue' holds value(s) ['0', '1'] that are not among its categories [False, True]; "
        "add them to the metadata or drop those rows."
    )):
        revenue.codes(pd.Series([1, 0, 1], name="Revenue"))
    sex = _column_encoder(credit_enc.encoder, "SEX")
    assert sex.codes(pd.Series([1, 2], name="SEX")).tolist() == [1, 0]


def test_transform_with_unseen_category(shoppers_enc):
    frame = shoppers_enc.frame.head(100).copy()
    frame.loc[10, "VisitorType"] = "Bot"
    with pytest.raises(ValueError, match=re.escape("Column 'VisitorType' holds value(s) ['Bot']")):
        shoppers_enc.encoder.transform(frame)


def test_transform_with_nulls_the_metadata_does_not_allow(shoppers_enc):
    frame = shoppers_enc.frame.head(100).copy()
    frame["VisitorType"] = frame["VisitorType"].mask(frame.index == 10, None)
    with pytest.raises(ValueError, match=_whole("Column 'VisitorType' has nulls but its metadata says it has none.")):
        shoppers_enc.encoder.transform(frame)


def test_missing_column(shoppers_enc):
    frame = shoppers_enc.frame.drop(columns=["Revenue", "Month"])
    with pytest.raises(ValueError, match=_whole("The table lacks column(s) ['Month', 'Revenue'] that the metadata describes.")):
        shoppers_enc.encoder.transform(frame)
    with pytest.raises(ValueError, match=_whole(
        "The training table lacks column(s) ['Month', 'Revenue'] that the metadata describes."
    )):
        TableEncoder(shoppers_enc.meta).fit(frame)


def test_empty_table(shoppers_enc):
    with pytest.raises(ValueError, match=_whole("The table is empty (0 rows).")):
        shoppers_enc.encoder.transform(shoppers_enc.frame.iloc[:0])


# ---------------------------------------------------------------------- known bugs
def test_transform_with_numerical_nulls_the_metadata_does_not_allow(shoppers_enc):
    frame = shoppers_enc.frame.head(100).copy()
    frame["PageValues"] = frame["PageValues"].mask(frame.index < 5)
    with pytest.raises(ValueError):
        shoppers_enc.encoder.transform(frame)
