"""The autoregressive flagship on real tables: conditions, imputation, privacy defaults, CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import tabsynth as ts
from tabsynth.encoding.tokens import PROTECTED_CATEGORY


def small(**kwargs) -> ts.Autoregressive:
    params = dict(epochs=3, random_state=0, verbose=False, device="cpu")
    params.update(kwargs)
    return ts.Autoregressive(**params)


@pytest.fixture(scope="module")
def shoppers_model(shoppers):
    return small(epochs=8).fit(shoppers)  # ~5 s; enough for the conditionals checked below


@pytest.fixture(scope="module")
def adult_model(adult_train):
    return small(epochs=2).fit(adult_train)


def test_conditions_hold_on_every_row_including_ranges(shoppers_model):
    conditions = {"Revenue": True, "VisitorType": "New_Visitor", "Month": ["Nov", "Dec"],
                  "PageValues": (10, 50), "ProductRelated_Duration": (None, 600.5), "Administrative": 3}
    synth = shoppers_model.sample(3000, conditions=conditions, random_state=0)
    assert len(synth) == 3000
    assert synth["Revenue"].all() and (synth["VisitorType"] == "New_Visitor").all()
    assert set(synth["Month"]) <= {"Nov", "Dec"} and synth["Month"].nunique() == 2
    assert synth["PageValues"].between(10, 50).all()
    assert (synth["ProductRelated_Duration"] <= 600.5).all()
    assert (synth["Administrative"] == 3).all()
    # The range is filled, not pinned to an edge: values spread across it.
    assert synth["PageValues"].nunique() > 500 and synth["PageValues"].std() > 5


def test_conditions_steer_the_other_columns(shoppers_model, shoppers):
    # Given a high page value, purchases must be far more frequent than on average.
    rich = shoppers_model.sample(3000, conditions={"PageValues": (50, None)}, random_state=1)
    real_rate = shoppers.loc[shoppers["PageValues"] >= 50, "Revenue"].mean()
    assert rich["Revenue"].mean() > shoppers["Revenue"].mean() + 0.2
    assert abs(rich["Revenue"].mean() - real_rate) < 0.2  # any-order conditionals are looser than the joint


def test_value_condition_on_a_float_column_gives_that_value(shoppers_model):
    synth = shoppers_model.sample(200, conditions={"BounceRates": 0.0, "ExitRates": 0.05}, random_state=0)
    assert (synth["BounceRates"] == 0.0).all() and (synth["ExitRates"] == 0.05).all()


def test_generated_ids_are_unique_across_sampling_batches(credit):
    model = small(epochs=1).fit(credit.head(3000))
    synth = model.sample(2500, batch_size=1000, random_state=0)
    assert synth["ID"].is_unique and synth["ID"].min() > credit.head(3000)["ID"].max()


def test_value_conditions_on_one_decimal_values(shoppers_model, shoppers):
    # 0.3 is ceil(3) * 0.1 = 0.30000000000000004 in floating point: it must still match.
    synth = shoppers_model.sample(100, conditions={"SpecialDay": 0.4, "ProductRelated": (3, 3)}, random_state=0)
    assert (synth["SpecialDay"] == 0.4).all() and (synth["ProductRelated"] == 3).all()


def test_impute_keeps_the_callers_index_and_extra_columns(shoppers_model, shoppers):
    rows = shoppers.head(6).copy()
    rows.index = [100, 101, 102, 103, 104, 105]
    rows["note"] = "kept"
    rows["PageValues"] = rows["PageValues"].where(rows.index % 2 == 0, np.nan)
    filled = shoppers_model.impute(rows, random_state=0)
    assert list(filled.index) == list(rows.index) and list(filled.columns) == list(rows.columns)
    assert (filled["note"] == "kept").all() and filled["PageValues"].notna().all()
    assert filled.loc[[100, 102, 104], "PageValues"].equals(rows.loc[[100, 102, 104], "PageValues"])


def test_table_without_learned_columns(credit):
    table = credit[["ID"]].head(200).assign(source="taiwan")  # an id and a constant: nothing to learn
    model = small(epochs=1).fit(table)
    synth = model.sample(30, random_state=0)
    assert synth["ID"].is_unique and synth["ID"].min() > 200 and (synth["source"] == "taiwan").all()


def test_datetime_range_and_null_conditions(cdnow):
    table = cdnow.head(4000)
    with pytest.warns(UserWarning, match="Column 'customer_id' is a key that several rows share"):
        model = small(epochs=2).fit(table)
    synth = model.sample(500, conditions={"date": ("1997-02-01", "1997-02-28")}, random_state=0)
    assert synth["date"].between(pd.Timestamp("1997-02-01"), pd.Timestamp("1997-02-28")).all()
    assert synth["date"].dtype == table["date"].dtype
    # customer_id is a key several rows share: fresh keys, never a real one, some shared.
    assert synth["customer_id"].min() > table["customer_id"].max() and not synth["customer_id"].is_unique


def test_condition_errors_say_what_is_wrong(shoppers_model, adult_model):
    with pytest.raises(ValueError) as info:
        shoppers_model.sample(10, conditions={"PageValues": (1000, 2000)})
    assert str(info.value).startswith(
        "Condition (1000, 2000) on column 'PageValues' selects no value this model generates; its values lie in [")
    with pytest.raises(ValueError, match="on numerical column 'PageValues' is not a number"):
        shoppers_model.sample(10, conditions={"PageValues": "lots"})
    with pytest.raises(ValueError, match="Condition asks for nulls in column 'Revenue', which has none."):
        shoppers_model.sample(10, conditions={"Revenue": None})
    # A rare value gets the same answer as an unknown one, and the list leaves rare values out,
    # so an error never confirms that a rare value is in the training data.
    for value in ("Holand-Netherlands", "Atlantis"):
        with pytest.raises(ValueError) as info:
            adult_model.sample(10, conditions={"native-country": value})
        assert str(info.value).startswith(f"Value '{value}' is not a category of column 'native-country'; "
                                          "allowed values: ['United-States', 'Mexico', '?', ")
        assert "Holand-Netherlands" not in str(info.value).partition("allowed values")[2]


def test_rare_categories_and_extremes_are_never_emitted(adult_model, adult_train):
    counts = adult_train["native-country"].value_counts()
    rare = set(counts[counts < 5].index)
    assert rare == {"Holand-Netherlands"}  # one row in the real table
    synth = adult_model.sample(len(adult_train), random_state=0)
    assert not rare & set(synth["native-country"])
    # Extremes are clipped at the 0.1% / 99.9% quantiles, not the real min / max.
    for column in ("fnlwgt", "age", "hours-per-week"):
        low, high = adult_train[column].quantile([0.001, 0.999])
        assert synth[column].min() >= low and synth[column].max() <= high
    # fnlwgt's extremes are single people (age 90 is a point mass of 43 rows, which may appear).
    assert adult_train["fnlwgt"].min() < synth["fnlwgt"].min() and synth["fnlwgt"].max() < adult_train["fnlwgt"].max()


def test_rare_numeric_codes_merge_into_a_frequent_neighbour(credit):
    # EDUCATION code 0 is held by 14 rows: with rare_threshold=20 it is merged, not emitted.
    assert (credit["EDUCATION"] == 0).sum() == 14
    model = small(epochs=1, rare_threshold=20).fit(credit)
    synth = model.sample(20_000, random_state=0)
    assert 0 not in set(synth["EDUCATION"])
    assert set(synth["EDUCATION"]) <= set(credit["EDUCATION"])


def test_string_rare_category_becomes_protected_token(shoppers):
    table = shoppers.copy()
    table["VisitorType"] = table["VisitorType"].replace({"Other": "Partner-7"})  # 85 rows
    model = small(epochs=1, rare_threshold=100).fit(table)
    synth = model.sample(5000, random_state=0)
    assert "Partner-7" not in set(synth["VisitorType"])
    assert PROTECTED_CATEGORY in set(synth["VisitorType"])


def test_impute_fills_only_missing_cells(shoppers_model, shoppers):
    rng = np.random.default_rng(0)
    holes = shoppers.head(500).copy()
    for column in ("Administrative", "Month", "PageValues", "Revenue", "VisitorType"):
        holes[column] = holes[column].astype(object).where(rng.random(len(holes)) >= 0.3, None)
    before = holes.copy()
    filled = shoppers_model.impute(holes, random_state=0)
    pd.testing.assert_frame_equal(holes, before)  # the input is not modified
    assert filled.notna().all().all()
    assert filled.dtypes.to_dict() == shoppers.dtypes.to_dict()
    observed = holes.notna()
    for column in holes.columns:
        kept = filled.loc[observed[column], column].astype(str)
        assert kept.equals(holes.loc[observed[column], column].astype(str)), column
    assert set(filled["Month"]) <= set(shoppers["Month"])
    again = shoppers_model.impute(holes, random_state=0)
    pd.testing.assert_frame_equal(filled, again)


def test_imputation_uses_the_observed_cells(shoppers_model, shoppers):
    # Rows that bought are far more likely to have a positive page value than those that did not.
    rows = shoppers.sample(2000, random_state=0).reset_index(drop=True)
    holes = rows.copy()
    holes["PageValues"] = np.nan
    filled = shoppers_model.impute(holes, random_state=0)
    positive = filled["PageValues"] > 0
    assert positive[rows["Revenue"]].mean() > positive[~rows["Revenue"]].mean() + 0.4


def test_training_keeps_the_best_validation_epoch(shoppers_model):
    history = shoppers_model.loss_history_
    assert [h["epoch"] for h in history] == list(range(1, len(history) + 1))
    best = min(history, key=lambda h: h["validation_nll"])
    assert shoppers_model.best_epoch_ == best["epoch"]
    assert history[-1]["train_nll"] < history[0]["train_nll"]


def test_early_stopping_stops_before_the_epoch_budget(shoppers):
    model = small(epochs=200, patience=1, learning_rate=0.05).fit(shoppers.head(1500))
    assert len(model.loss_history_) < 200


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tabsynth.cli", *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("table, condition", [
    ("online_shoppers.csv.gz", "PageValues=5..40"),
    ("credit_default.csv.gz", "LIMIT_BAL=100000..200000"),
    ("adult_train.csv.gz", "age=30..40"),
    ("adult_test.csv.gz", "hours-per-week=..20"),
])
def test_cli_fits_samples_and_imputes_every_sample_table(repo_root, tmp_path, table, condition):
    source = repo_root / "sample_data" / table
    model_dir = tmp_path / "model"
    fitted = _cli("fit", source, "-o", model_dir, "--epochs", "1", "--seed", "0", "--quiet", "--device", "cpu")
    assert fitted.returncode == 0, fitted.stderr
    assert "Fitted Autoregressive on" in fitted.stdout
    out = tmp_path / "synth.parquet"
    sampled = _cli("sample", model_dir, "-n", "400", "-o", out, "--condition", condition, "--seed", "0")
    assert sampled.returncode == 0, sampled.stderr
    synth = ts.read_table(out)
    real = ts.read_table(source)
    assert list(synth.columns) == list(real.columns) and len(synth) == 400
    column, _, bounds = condition.partition("=")
    low, _, high = bounds.partition("..")
    assert synth[column].between(float(low or "-inf"), float(high or "inf")).all()
    # Impute: blank a column of a few real rows and fill it back.
    holes = real.head(50).copy()
    holes[column] = np.nan
    holes_path = tmp_path / "holes.parquet"
    holes.to_parquet(holes_path)
    imputed_path = tmp_path / "imputed.csv"
    imputed = _cli("impute", model_dir, holes_path, "-o", imputed_path, "--seed", "0")
    assert imputed.returncode == 0, imputed.stderr
    assert "Filled 50 missing cells of 50 rows" in imputed.stdout
    filled = ts.read_table(imputed_path)
    assert filled[column].notna().all()
    other = [c for c in real.columns if c != column]
    pd.testing.assert_frame_equal(filled[other], holes[other].reset_index(drop=True), check_dtype=False)


def test_cli_impute_refuses_models_that_cannot(shoppers, tmp_path):
    model_dir = tmp_path / "tvae"
    ts.TVAE(epochs=1, random_state=0, verbose=False).fit(shoppers.head(500)).save(model_dir)
    data = tmp_path / "rows.csv"
    shoppers.head(5).to_csv(data, index=False)
    result = _cli("impute", model_dir, data, "-o", tmp_path / "out.csv")
    assert result.returncode == 1
    assert result.stderr.strip() == (f"Error: The model in '{model_dir}' is TVAE, which cannot impute; fit an "
                                     "autoregressive model (the default of `tabsynth fit`).")


@pytest.mark.slow
def test_default_schedule_quality_on_adult(adult_train, adult_test):
    model = ts.Autoregressive(random_state=0, verbose=False).fit(adult_train)
    synth = model.sample(len(adult_train), random_state=0)
    from tabsynth.evaluation import evaluate

    report = evaluate(adult_train, synth, holdout=adult_test, target="income", anonymeter=False)
    value = lambda key: report.metric(key).value  # noqa: E731
    assert value("fidelity.column_shapes") > 0.985
    assert value("fidelity.pair_trends") > 0.975
    assert value("fidelity.detection_auc") < 0.6
    assert value("utility.tstr_boosting_auc") > 0.91
    ideal = len(adult_train) / (len(adult_train) + len(adult_test))
    assert abs(value("privacy.dcr_share") - ideal) < 0.02
    assert value("privacy.mia_distance_auc") <= 0.52
