"""Metadata inference, editing, JSON round trip and error messages, on the real tables."""

from __future__ import annotations

import copy
import dataclasses
import json
import re

import numpy as np
import pytest

import tabsynth
from tabsynth.metadata import KINDS, MAX_CODES_ANY, MAX_CODES_CONTIGUOUS, ColumnMetadata, Metadata

TABLES = ["shoppers", "credit", "adult_train", "adult_test", "cdnow"]

SHOPPERS_KINDS = {
    "Administrative": "numerical",
    "Administrative_Duration": "numerical",
    "Informational": "numerical",
    "Informational_Duration": "numerical",
    "ProductRelated": "numerical",
    "ProductRelated_Duration": "numerical",
    "BounceRates": "numerical",
    "ExitRates": "numerical",
    "PageValues": "numerical",
    "SpecialDay": "categorical",
    "Month": "categorical",
    "OperatingSystems": "categorical",
    "Browser": "categorical",
    "Region": "categorical",
    "TrafficType": "categorical",
    "VisitorType": "categorical",
    "Weekend": "categorical",
    "Revenue": "categorical",
}

CREDIT_KINDS = {
    "ID": "id",
    "LIMIT_BAL": "numerical",
    "SEX": "categorical",
    "EDUCATION": "categorical",
    "MARRIAGE": "categorical",
    "AGE": "numerical",
    **{f"PAY_{i}": "categorical" for i in (0, 2, 3, 4, 5, 6)},
    **{f"BILL_AMT{i}": "numerical" for i in range(1, 7)},
    **{f"PAY_AMT{i}": "numerical" for i in range(1, 7)},
    "default payment next month": "categorical",
}

ADULT_KINDS = {
    "age": "numerical",
    "workclass": "categorical",
    "fnlwgt": "numerical",
    "education": "categorical",
    "education-num": "categorical",
    "marital-status": "categorical",
    "occupation": "categorical",
    "relationship": "categorical",
    "race": "categorical",
    "sex": "categorical",
    "capital-gain": "numerical",
    "capital-loss": "numerical",
    "hours-per-week": "numerical",
    "native-country": "categorical",
    "income": "categorical",
}

CDNOW_KINDS = {
    "customer_id": "key",  # 23,570 customers over 69,659 transactions: a key rows share
    "date": "datetime",
    "number_of_cds": "numerical",
    "dollar_value": "numerical",
}

KNOWN_FIELDS = [
    "categories", "datetime_format", "decimals", "dtype", "kind", "maximum", "minimum",
    "null_rate", "nullable", "value",
]


def _whole(message: str) -> str:
    """Regex that matches exactly ``message`` (pytest.raises uses re.search)."""
    return "^" + re.escape(message) + "$"


def _kinds(meta: Metadata) -> dict[str, str]:
    return {c.name: c.kind for c in meta}


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def shoppers_meta(shoppers):
    return Metadata.infer(shoppers)


@pytest.fixture(scope="module")
def credit_meta(credit):
    return Metadata.infer(credit)


@pytest.fixture(scope="module")
def adult_train_meta(adult_train):
    return Metadata.infer(adult_train)


@pytest.fixture(scope="module")
def adult_test_meta(adult_test):
    return Metadata.infer(adult_test)


@pytest.fixture(scope="module")
def cdnow_meta(cdnow):
    return Metadata.infer(cdnow)


@pytest.fixture(params=TABLES)
def case(request):
    """(name, table, inferred metadata) for every real table; the metadata is shared: do not edit it."""
    name = request.param
    return name, request.getfixturevalue(name), request.getfixturevalue(f"{name}_meta")


@pytest.fixture(scope="module")
def shoppers_with_nulls(shoppers):
    """Copy of shoppers with nulls in a float, a string, an Int64 and an integer-code column."""
    frame = shoppers.copy()
    rng = np.random.default_rng(7)
    n = len(frame)
    masks = {}
    for column, share in [("PageValues", 0.10), ("VisitorType", 0.10), ("Administrative", 0.05), ("TrafficType", 0.02)]:
        mask = np.zeros(n, dtype=bool)
        mask[rng.choice(n, int(round(share * n)), replace=False)] = True
        masks[column] = mask
    frame["PageValues"] = frame["PageValues"].mask(masks["PageValues"])
    frame["VisitorType"] = frame["VisitorType"].mask(masks["VisitorType"], None)
    frame["Administrative"] = frame["Administrative"].astype("Int64").mask(masks["Administrative"])
    frame["TrafficType"] = frame["TrafficType"].astype("Int64").mask(masks["TrafficType"])
    return frame, masks


# ---------------------------------------------------------------------- kinds
def test_shoppers_kinds(shoppers_meta):
    assert _kinds(shoppers_meta) == SHOPPERS_KINDS


def test_shoppers_booleans_are_categorical_with_bool_dtype(shoppers, shoppers_meta):
    for name in ("Revenue", "Weekend"):
        column = shoppers_meta[name]
        assert column.kind == "categorical"
        assert column.dtype == "bool"
        assert shoppers[name].dtype == bool
        # Most frequent first: both are mostly False in the real data.
        assert column.categories == [False, True]
        assert all(type(c) is bool for c in column.categories)


def test_shoppers_integer_codes_are_categorical(shoppers, shoppers_meta):
    for name in ("Browser", "TrafficType", "Region", "OperatingSystems"):
        column = shoppers_meta[name]
        assert column.kind == "categorical"
        assert column.dtype == "int64"
        assert all(type(c) is int for c in column.categories)
        assert sorted(column.categories) == sorted(shoppers[name].unique().tolist())
    # Counts stay numerical: too many distinct values for the "any codes" rule, and
    # not a contiguous run (Informational: 17 values in 0..24; Administrative: 27 in 0..27).
    for name in ("Informational", "Administrative"):
        values = shoppers[name]
        assert values.nunique() > MAX_CODES_ANY
        assert values.max() - values.min() + 1 > values.nunique()
        assert shoppers_meta[name].kind == "numerical"


def test_credit_kinds(credit_meta):
    assert _kinds(credit_meta) == CREDIT_KINDS


@pytest.mark.parametrize("table", ["adult_train", "adult_test"])
def test_adult_kinds(request, table):
    meta = request.getfixturevalue(f"{table}_meta")
    assert _kinds(meta) == ADULT_KINDS


@pytest.mark.parametrize("table", ["adult_train", "adult_test"])
def test_adult_education_num_is_categorical_by_contiguous_codes_rule(request, table):
    frame = request.getfixturevalue(table)
    meta = request.getfixturevalue(f"{table}_meta")
    values = frame["education-num"]
    n_unique = values.nunique()
    # Too many values for the "any codes" rule, but a contiguous run 1..16 within the
    # contiguous limit: that rule alone makes it categorical.
    assert MAX_CODES_ANY < n_unique <= MAX_CODES_CONTIGUOUS
    assert values.max() - values.min() + 1 == n_unique
    assert meta["education-num"].kind == "categorical"
    assert sorted(meta["education-num"].categories) == list(range(1, 17))


def test_cdnow_kinds(cdnow, cdnow_meta):
    assert _kinds(cdnow_meta) == CDNOW_KINDS
    assert cdnow_meta["date"].dtype.startswith("datetime64")
    assert cdnow_meta["date"].datetime_format is None  # read as a real date column, not text


def test_all_kinds_are_known(case):
    _, frame, meta = case
    assert meta.names == list(frame.columns)
    assert all(column.kind in KINDS for column in meta)


def test_dtypes_are_the_frame_dtypes(case):
    _, frame, meta = case
    assert {c.name: c.dtype for c in meta} == {name: str(dtype) for name, dtype in frame.dtypes.items()}


def test_no_nulls_in_real_tables(case):
    _, frame, meta = case
    assert not frame.isna().any().any()
    for column in meta:
        assert column.nullable is False
        assert column.null_rate == 0.0


# ---------------------------------------------------------------------- statistics
def test_numerical_bounds_are_observed_min_and_max(case):
    _, frame, meta = case
    numerical = [c for c in meta if c.kind == "numerical"]
    assert numerical
    for column in numerical:
        assert column.minimum == float(frame[column.name].min()), column.name
        assert column.maximum == float(frame[column.name].max()), column.name
        assert type(column.minimum) is float and type(column.maximum) is float
        assert column.categories is None


def test_integer_columns_have_zero_decimals(case):
    _, frame, meta = case
    for column in meta:
        if column.kind == "numerical" and frame[column.name].dtype.kind in "iu":
            assert column.decimals == 0, column.name


@pytest.mark.parametrize("table", ["adult_train", "adult_test"])
def test_adult_numericals_are_integers(request, table):
    meta = request.getfixturevalue(f"{table}_meta")
    numerical = {c.name: c.decimals for c in meta if c.kind == "numerical"}
    assert numerical == {n: 0 for n in ("age", "fnlwgt", "capital-gain", "capital-loss", "hours-per-week")}


def test_cdnow_decimals_and_bounds(cdnow_meta):
    assert cdnow_meta["dollar_value"].decimals == 2
    assert cdnow_meta["number_of_cds"].decimals == 0
    assert cdnow_meta["date"].minimum == "1997-01-01T00:00:00"
    assert cdnow_meta["date"].maximum == "1998-06-30T00:00:00"
    assert cdnow_meta["date"].decimals is None


def test_shoppers_float_decimals(shoppers, shoppers_meta):
    # 0, 0.2, ..., 1.0: six levels, so categorical (floats kept as floats).
    assert shoppers_meta["SpecialDay"].kind == "categorical"
    assert sorted(shoppers_meta["SpecialDay"].categories) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    for column in shoppers_meta:
        if column.kind != "numerical" or shoppers[column.name].dtype.kind != "f":
            continue
        values = shoppers[column.name].to_numpy()
        assert 0 <= column.decimals <= 10
        # Rounding to the inferred decimals is exact for every value (relative 1e-10, float64 noise).
        loss = np.abs(np.round(values, column.decimals) - values)
        assert np.all(loss <= 1e-10 * np.maximum(1.0, np.abs(values))), column.name
    # Durations like 279.416667 keep all their decimals, whatever the column's largest value.
    assert shoppers_meta["Administrative_Duration"].decimals >= 6


def test_categories_are_observed_values_most_frequent_first(case):
    name, frame, meta = case
    categorical = [c for c in meta if c.kind == "categorical"]
    assert categorical or name == "cdnow"  # cdnow has none
    for column in categorical:
        counts = frame[column.name].value_counts()
        assert set(column.categories) == set(frame[column.name].unique().tolist()), column.name
        assert len(column.categories) == len(counts)
        observed = [int(counts[c]) for c in column.categories]
        assert observed == sorted(observed, reverse=True), column.name
        # JSON scalars, not numpy ones
        assert all(type(c) in (str, int, float, bool) for c in column.categories), column.name


def test_adult_categories_head(adult_train_meta):
    assert adult_train_meta["income"].categories == ["<=50K", ">50K"]
    assert adult_train_meta["sex"].categories == ["Male", "Female"]
    assert adult_train_meta["workclass"].categories[:2] == ["Private", "Self-emp-not-inc"]


def test_credit_categories_head(credit_meta):
    assert credit_meta["SEX"].categories == [2, 1]
    assert credit_meta["default payment next month"].categories == [0, 1]
    assert credit_meta["PAY_0"].categories[:4] == [0, -1, 1, -2]


def test_id_and_datetime_have_no_categories(credit_meta, cdnow_meta):
    assert credit_meta["ID"].categories is None
    assert credit_meta["ID"].minimum is None
    assert cdnow_meta["customer_id"].categories is None
    assert cdnow_meta["date"].categories is None


def test_constant_column_of_a_real_subset(credit):
    women = credit[credit["SEX"] == 2]
    meta = Metadata.infer(women)
    assert meta["SEX"].kind == "constant"
    assert meta["SEX"].value == 2
    assert type(meta["SEX"].value) is int
    assert meta["SEX"].categories is None
    # The other columns keep their kinds.
    assert {k: v for k, v in _kinds(meta).items() if k != "SEX"} == {
        k: v for k, v in CREDIT_KINDS.items() if k != "SEX"
    }


def test_null_rates_with_injected_nulls(shoppers_with_nulls):
    frame, masks = shoppers_with_nulls
    meta = Metadata.infer(frame)
    n = len(frame)
    for name, mask in masks.items():
        column = meta[name]
        assert column.nullable is True, name
        assert column.null_rate == pytest.approx(mask.sum() / n, abs=1e-12), name
        assert 0 < column.null_rate < 1
    for column in meta:
        if column.name not in masks:
            assert column.nullable is False and column.null_rate == 0.0, column.name
    assert meta["PageValues"].kind == "numerical"
    assert meta["PageValues"].dtype == "float64"
    # Bounds ignore nulls
    assert meta["PageValues"].maximum == float(frame["PageValues"].max())
    assert meta["VisitorType"].kind == "categorical"
    assert meta["VisitorType"].categories == frame["VisitorType"].value_counts().index.tolist()
    assert None not in meta["VisitorType"].categories
    assert meta["Administrative"].kind == "numerical"
    assert meta["Administrative"].dtype == "Int64"
    assert meta["Administrative"].is_integer
    assert meta["Administrative"].decimals == 0
    assert meta["TrafficType"].kind == "categorical"
    assert all(type(c) is int for c in meta["TrafficType"].categories)


def test_null_rate_of_one_missing_value(credit):
    frame = credit.copy()
    frame["LIMIT_BAL"] = frame["LIMIT_BAL"].mask(frame.index == 0)
    column = Metadata.infer(frame)["LIMIT_BAL"]
    assert column.null_rate == pytest.approx(1 / len(frame))
    assert column.nullable is True
    assert column.kind == "numerical"
    assert column.decimals == 0  # float64 now, but still whole numbers


def test_pyarrow_table_is_accepted(shoppers, shoppers_meta):
    import pyarrow as pa

    assert Metadata.infer(pa.Table.from_pandas(shoppers, preserve_index=False)) == shoppers_meta


# ---------------------------------------------------------------------- JSON
def test_to_dict_from_dict_round_trip(case):
    _, _, meta = case
    payload = meta.to_dict()
    assert list(payload) == ["columns"]
    assert [c["name"] for c in payload["columns"]] == meta.names
    # Plain JSON: survives a dumps/loads unchanged.
    assert json.loads(json.dumps(payload)) == payload
    again = Metadata.from_dict(payload)
    assert again == meta
    assert again.names == meta.names
    for name in meta.names:
        assert again[name] == meta[name]


def test_save_load_round_trip(case, tmp_path):
    name, _, meta = case
    path = tmp_path / f"{name}.json"
    meta.save(path)
    loaded = Metadata.load(path)
    assert loaded == meta
    assert loaded.names == meta.names
    assert [dataclasses.asdict(c) for c in loaded] == [dataclasses.asdict(c) for c in meta]


def test_save_load_round_trip_with_nulls_and_constant(shoppers_with_nulls, credit, tmp_path):
    frame, _ = shoppers_with_nulls
    for i, table in enumerate([frame, credit[credit["SEX"] == 1]]):
        meta = Metadata.infer(table)
        meta.save(tmp_path / f"{i}.json")
        assert Metadata.load(tmp_path / f"{i}.json") == meta


def test_equality_sees_differences(shoppers_meta):
    other = copy.deepcopy(shoppers_meta)
    assert other == shoppers_meta
    other.update_column("Month", categories=list(reversed(other["Month"].categories)))
    assert other != shoppers_meta
    assert shoppers_meta != shoppers_meta.to_dict()


# ---------------------------------------------------------------------- editing
def test_update_column(credit):
    meta = Metadata.infer(credit)
    before = meta.to_dict()
    meta.update_column("AGE", kind="categorical", categories=sorted(credit["AGE"].unique().tolist()))
    column = meta["AGE"]
    assert column.kind == "categorical"
    assert column.categories[:3] == [21, 22, 23]  # the given categories override the refitted ones
    # A categorical column has no bounds; dtype and nulls are the column's own.
    assert column.dtype == "int64" and column.minimum is None and column.decimals is None
    assert meta.names == [c["name"] for c in before["columns"]]
    unchanged = [c for c in before["columns"] if c["name"] != "AGE"]
    assert [c for c in meta.to_dict()["columns"] if c["name"] != "AGE"] == unchanged


def test_update_column_refits_what_the_new_kind_needs(shoppers):
    """The README's example: a code column made numerical gets bounds and decimals from the
    table it was inferred on, so decoding still clips and rounds."""
    meta = Metadata.infer(shoppers)
    meta.update_column("TrafficType", kind="numerical")
    column = meta["TrafficType"]
    assert (column.kind, column.minimum, column.maximum, column.decimals) == ("numerical", 1.0, 20.0, 0)
    assert column.categories is None
    meta.update_column("TrafficType", kind="categorical")
    assert meta["TrafficType"] == Metadata.infer(shoppers)["TrafficType"]
    meta.update_column("Administrative_Duration", kind="numerical", maximum=5000.0)  # same kind: a plain edit
    assert meta["Administrative_Duration"].maximum == 5000.0


def test_a_kind_change_keeps_earlier_edits_of_the_column(shoppers):
    meta = Metadata.infer(shoppers)
    meta.update_column("Region", nullable=True, null_rate=0.05)
    meta.update_column("Region", kind="numerical")
    column = meta["Region"]
    assert (column.nullable, column.null_rate, column.minimum, column.maximum) == (True, 0.05, 1.0, 9.0)


def test_completed_from_fills_what_a_hand_edited_kind_lacks(shoppers):
    payload = Metadata.infer(shoppers).to_dict()
    for column in payload["columns"]:
        if column["name"] == "TrafficType":
            column["kind"] = "numerical"  # as a user edits the JSON: bounds absent, categories stale
    edited = Metadata.from_dict(payload)
    completed, notes = edited.completed_from(shoppers)
    assert notes == ["Column 'TrafficType': minimum, maximum taken from the training table (the metadata gives "
                     "none for a numerical column)."]
    column = completed["TrafficType"]
    assert (column.minimum, column.maximum, column.decimals, column.categories) == (1.0, 20.0, 0, None)
    assert edited["TrafficType"].minimum is None  # the caller's metadata is not changed
    assert completed.completed_from(shoppers) == (completed, [])


def test_update_column_refuses_what_it_cannot_refit(shoppers):
    loaded = Metadata.from_dict(Metadata.infer(shoppers).to_dict())  # as read from JSON: no table behind it
    with pytest.raises(ValueError) as info:
        loaded.update_column("Region", kind="numerical")
    assert str(info.value) == (
        "Column 'Region': changing its kind to 'numerical' needs minimum, maximum, which this metadata cannot "
        "refit (it was not inferred from a table still in memory); give them to update_column, or call "
        "refit_column('Region', data, kind='numerical').")
    loaded.update_column("Region", kind="numerical", minimum=1.0, maximum=9.0)
    assert (loaded["Region"].minimum, loaded["Region"].maximum, loaded["Region"].categories) == (1.0, 9.0, None)
    with pytest.raises(ValueError) as info:
        Metadata.infer(shoppers).update_column("Month", kind="numerical")
    assert str(info.value) == ("Column 'Month': its values do not fit kind 'numerical' (Unable to parse string "
                               "'Feb' at position 0); choose another kind.")


def test_metadata_does_not_keep_its_table_alive(shoppers):
    import gc
    import weakref

    frame = shoppers.copy()
    meta, alive = Metadata.infer(frame), weakref.ref(frame)
    del frame
    gc.collect()
    assert alive() is None
    with pytest.raises(ValueError, match="cannot refit"):
        meta.update_column("Region", kind="numerical")


def test_key_columns_shared_by_rows_are_keys_unique_ones_ids(cdnow, credit):
    assert Metadata.infer(cdnow).key_columns() == ["customer_id"]
    assert Metadata.infer(credit)["ID"].kind == "id"
    first_purchases = cdnow.drop_duplicates("customer_id")  # one row per customer: a unique id
    assert Metadata.infer(first_purchases)["customer_id"].kind == "id"


def test_update_column_does_not_mutate_the_old_column_object(shoppers):
    meta = Metadata.infer(shoppers)
    old = meta["Region"]
    meta.update_column("Region", kind="numerical", minimum=1.0, maximum=9.0, decimals=0, categories=None)
    assert old.kind == "categorical"
    assert meta["Region"].kind == "numerical"


def test_refit_column(credit):
    meta = Metadata.infer(credit)
    others = [c for c in meta.to_dict()["columns"] if c["name"] not in ("AGE", "EDUCATION")]
    meta.refit_column("AGE", credit, "categorical")
    assert meta["AGE"].kind == "categorical"
    assert meta["AGE"].categories == credit["AGE"].value_counts().index.tolist()
    assert meta["AGE"].minimum is None and meta["AGE"].decimals is None
    meta.refit_column("EDUCATION", credit, "numerical")
    column = meta["EDUCATION"]
    assert (column.kind, column.minimum, column.maximum, column.decimals) == ("numerical", 0.0, 6.0, 0)
    assert column.categories is None
    assert [c for c in meta.to_dict()["columns"] if c["name"] not in ("AGE", "EDUCATION")] == others
    assert meta.names == list(credit.columns)


def test_refit_column_back_to_inferred(shoppers, shoppers_meta):
    meta = Metadata.infer(shoppers)
    meta.refit_column("Browser", shoppers, "numerical")
    assert meta["Browser"].kind == "numerical"
    meta.refit_column("Browser", shoppers, "categorical")
    assert meta == shoppers_meta


# ---------------------------------------------------------------------- errors
def test_empty_table(credit):
    with pytest.raises(ValueError, match=_whole("The table is empty (0 rows); give at least one row per column.")):
        Metadata.infer(credit.iloc[:0])


def test_table_without_columns(credit):
    with pytest.raises(ValueError, match=_whole("The table has no columns; nothing to learn.")):
        Metadata.infer(credit.iloc[:, :0])


@pytest.mark.parametrize("fill", [None, np.nan], ids=["None", "NaN"])
def test_all_null_column(shoppers, fill):
    frame = shoppers.copy()
    frame["PageValues"] = fill
    with pytest.raises(ValueError, match=_whole("Column 'PageValues' is entirely null; drop it before fitting.")):
        Metadata.infer(frame)


def test_column_mixing_ints_and_strings(credit):
    frame = credit.copy()
    frame["EDUCATION"] = frame["EDUCATION"].astype(object)
    frame.loc[5, "EDUCATION"] = "unknown"
    assert frame["EDUCATION"].dtype == object
    message = (
        "Column 'EDUCATION' mixes values of incompatible types (number, str); "
        "convert it to a single type before fitting, e.g. df[col].astype(str)."
    )
    with pytest.raises(ValueError, match=_whole(message)):
        Metadata.infer(frame)
    # The suggested fix works.
    frame["EDUCATION"] = frame["EDUCATION"].astype(str)
    assert Metadata.infer(frame)["EDUCATION"].kind == "categorical"


def test_not_a_table():
    with pytest.raises(TypeError, match=_whole("Expected a pandas DataFrame or pyarrow Table, got dict.")):
        Metadata.infer({"a": [1, 2]})


def test_unknown_kind_in_json_file(shoppers_meta, tmp_path):
    payload = shoppers_meta.to_dict()
    payload["columns"][12]["kind"] = "ordinal"  # Browser
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(payload))
    message = (f"Metadata file '{path}': Column 'Browser': unknown kind 'ordinal'; "
               "use one of numerical, categorical, datetime, id, key, constant.")
    with pytest.raises(ValueError, match=_whole(message)):
        Metadata.load(path)


def test_unknown_field_in_json_file(shoppers_meta, tmp_path):
    payload = shoppers_meta.to_dict()
    payload["columns"][0]["unit"] = "pages"
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(payload))
    message = f"Metadata file '{path}': column 'Administrative' has unknown field(s) ['unit']."
    with pytest.raises(ValueError, match=_whole(message)):
        Metadata.load(path)


def test_json_column_entry_without_kind(shoppers_meta, tmp_path):
    payload = shoppers_meta.to_dict()
    del payload["columns"][3]["kind"]
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(payload))
    message = f"Metadata file '{path}': column entry 3 needs 'name', 'kind' and 'dtype'."
    with pytest.raises(ValueError, match=_whole(message)):
        Metadata.load(path)


def test_json_without_columns_list(tmp_path):
    path = tmp_path / "meta.json"
    path.write_text(json.dumps([{"name": "Month"}]))
    with pytest.raises(ValueError, match=_whole(f"Metadata file '{path}': expected an object with a 'columns' list.")):
        Metadata.load(path)
    with pytest.raises(ValueError, match=_whole("metadata: expected an object with a 'columns' list.")):
        Metadata.from_dict({"columns": {}})


def test_malformed_json_file(shoppers_meta, tmp_path):
    path = tmp_path / "meta.json"
    shoppers_meta.save(path)
    text = path.read_text()[:-40]  # cut short
    path.write_text(text)
    with pytest.raises(json.JSONDecodeError) as decode_error:
        json.loads(text)
    with pytest.raises(ValueError) as exc_info:
        Metadata.load(path)
    assert str(exc_info.value) == f"Metadata file '{path}' is not valid JSON: {decode_error.value}"


def test_missing_metadata_file(tmp_path):
    path = tmp_path / "absent.json"
    with pytest.raises(FileNotFoundError, match=_whole(f"Metadata file '{path}' does not exist.")):
        Metadata.load(path)


def test_duplicate_column_names(shoppers_meta):
    columns = list(shoppers_meta)[:2]
    with pytest.raises(ValueError) as exc_info:
        Metadata(columns + columns[:1])
    assert str(exc_info.value) == (
        "Column names must be unique; got ['Administrative', 'Administrative_Duration', 'Administrative']."
    )


def test_update_column_unknown_field(credit):
    meta = Metadata.infer(credit)
    with pytest.raises(ValueError) as exc_info:
        meta.update_column("AGE", colour="red", unit="years")
    assert str(exc_info.value) == f"Column 'AGE': unknown field(s) ['colour', 'unit']; use {KNOWN_FIELDS}."
    assert meta == Metadata.infer(credit)  # unchanged


def test_update_column_unknown_kind(credit):
    meta = Metadata.infer(credit)
    message = "Column 'AGE': unknown kind 'ordinal'; use one of numerical, categorical, datetime, id, key, constant."
    with pytest.raises(ValueError, match=_whole(message)):
        meta.update_column("AGE", kind="ordinal")
    assert meta["AGE"].kind == "numerical"


def test_update_column_unknown_column(credit):
    meta = Metadata.infer(credit)
    with pytest.raises(KeyError) as exc_info:
        meta.update_column("age", kind="categorical")
    assert exc_info.value.args[0] == f"Column 'age' is not in the metadata; columns are {list(credit.columns)}."


def test_refit_column_errors(credit):
    meta = Metadata.infer(credit)
    with pytest.raises(KeyError) as exc_info:
        meta.refit_column("age", credit, "categorical")
    assert exc_info.value.args[0] == "Column 'age' is not in the table."
    message = "Column 'AGE': unknown kind 'ordinal'; use one of numerical, categorical, datetime, id, key, constant."
    with pytest.raises(ValueError, match=_whole(message)):
        meta.refit_column("AGE", credit, "ordinal")
    assert meta == Metadata.infer(credit)


def test_column_metadata_unknown_kind():
    with pytest.raises(ValueError, match=_whole(
        "Column 'x': unknown kind 'text'; use one of numerical, categorical, datetime, id, key, constant."
    )):
        ColumnMetadata(name="x", kind="text", dtype="str")


# ---------------------------------------------------------------------- known bugs
def test_amount_column_whose_name_ends_in_id_is_not_an_id(credit):
    frame = credit[["PAY_AMT1", "BILL_AMT1"]].rename(columns={"PAY_AMT1": "AMOUNT_PAID", "BILL_AMT1": "IDLE_BALANCE"})
    assert _kinds(Metadata.infer(frame)) == {"AMOUNT_PAID": "numerical", "IDLE_BALANCE": "numerical"}


def test_code_column_with_nulls_read_from_csv_stays_categorical(shoppers, tmp_path):
    frame = shoppers.copy()
    frame["Region"] = frame["Region"].mask(np.arange(len(frame)) % 10 == 0)
    path = tabsynth.write_table(frame, tmp_path / "shoppers_with_nulls.csv")
    again = tabsynth.read_table(path)
    assert again["Region"].dtype == "float64"
    assert Metadata.infer(again)["Region"].kind == "categorical"
