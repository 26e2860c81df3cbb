"""ParentChild and the relational report on real tables: CDNOW transactions (keys only as
parents, dated purchases) and the credit-default table reshaped into customers and their six
monthly statements."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import tabsynth as ts
from tabsynth.cli import app
from tabsynth.relational import entity_table, evaluate_relational
from tabsynth.relational.data import credit_statements, split_by_parent

ROOT = Path(__file__).resolve().parents[2]
CREDIT = ROOT / "sample_data" / "credit_default.csv.gz"
FAST = {"epochs": 3}


@pytest.fixture(scope="module")
def cdnow(cdnow_customers):
    return cdnow_customers(1_500, seed=0)


@pytest.fixture(scope="module")
def credit():
    customers, statements = credit_statements(ts.read_table(CREDIT))
    keep = customers["ID"].iloc[:1_500]
    return customers[customers["ID"].isin(keep)].reset_index(drop=True), \
        statements[statements["ID"].isin(keep)].reset_index(drop=True)


@pytest.fixture(scope="module")
def cdnow_model(cdnow):
    return ts.ParentChild(key="customer_id", order_by="date", random_state=0, model_params=FAST,
                          verbose=False).fit(cdnow)


@pytest.fixture(scope="module")
def credit_model(credit):
    customers, statements = credit
    return ts.ParentChild(key="ID", order_by="month", random_state=0, model_params=FAST,
                          verbose=False).fit(statements, parents=customers)


def _sorted_within(children: pd.DataFrame, key: str, order: str) -> bool:
    return bool(children.groupby(key, sort=False)[order].apply(lambda s: s.is_monotonic_increasing).all())


def test_keys_are_fresh_and_link_every_child_to_one_parent(cdnow, cdnow_model):
    parents, children = cdnow_model.sample(400, random_state=1)
    assert parents["customer_id"].is_unique and len(parents) == 400
    assert set(children["customer_id"]) <= set(parents["customer_id"])
    assert not set(parents["customer_id"]) & set(cdnow["customer_id"])  # no real key is emitted
    assert parents["customer_id"].dtype == cdnow["customer_id"].dtype
    # Derived parents all have children (every real key had one); each parent's children are consecutive.
    assert set(parents["customer_id"]) == set(children["customer_id"])
    runs = (children["customer_id"] != children["customer_id"].shift()).sum()
    assert runs == children["customer_id"].nunique()


def test_order_and_gaps_and_cardinality_follow_the_real_table(cdnow, cdnow_model):
    parents, children = cdnow_model.sample(1_500, random_state=2)
    assert children["date"].dtype == cdnow["date"].dtype
    assert _sorted_within(children, "customer_id", "date")
    gaps = children.groupby("customer_id")["date"].diff().dropna()
    assert (gaps >= pd.Timedelta(0)).all()
    assert children["date"].min() >= cdnow["date"].min() - pd.Timedelta(days=31)
    real_counts = cdnow.groupby("customer_id").size()
    synthetic_counts = children.groupby("customer_id").size()
    # 1,500 customers and 3 epochs: the shape of "how many purchases" is already close.
    assert abs(real_counts.mean() - synthetic_counts.mean()) < 0.6
    assert abs((real_counts == 1).mean() - (synthetic_counts == 1).mean()) < 0.1
    assert set(children.columns) == set(cdnow.columns)
    assert (children["number_of_cds"] >= 1).all()


def test_credit_children_follow_their_parents(credit, credit_model):
    customers, statements = credit
    parents, children = credit_model.sample(300, random_state=3)
    assert list(parents.columns) == list(customers.columns)
    assert list(children.columns) == list(statements.columns)
    counts = children.groupby("ID").size()
    # Six statements for every real client: a panel, learned in wide layout, keeps all six.
    assert credit_model.layouts_ == {"children": "wide"} and (counts == 6).all()
    assert _sorted_within(children, "ID", "month")
    assert children["month"].dtype == statements["month"].dtype
    # Every client's six months are April..September 2005, as in every real client's panel.
    months = children.groupby("ID")["month"].apply(lambda m: tuple(m))
    assert (months == tuple(sorted(set(statements["month"])))).mean() > 0.95
    for column in ("repayment_status", "bill_amount", "paid_amount"):
        assert children[column].dtype == statements[column].dtype, column


def test_a_parent_condition_holds_on_every_parent_and_children_follow(credit_model):
    parents, children = credit_model.sample(200, conditions={"default": 1}, random_state=4)
    assert (parents["default"] == 1).all()
    assert set(children["ID"]) <= set(parents["ID"])


def test_sample_children_keeps_the_given_parents(credit, credit_model):
    customers = credit[0].head(50)
    children = credit_model.sample_children(customers, random_state=5)
    assert set(children["ID"]) <= set(customers["ID"])
    assert children["ID"].nunique() > 45
    hand_made = customers.head(3).assign(ID=[-1, -2, -3])
    assert set(credit_model.sample_children(hand_made, random_state=5)["ID"]) == {-1, -2, -3}


def test_seeds_and_save_load_reproduce(tmp_path, credit_model):
    first = credit_model.sample(60, random_state=7)
    again = credit_model.sample(60, random_state=7)
    pd.testing.assert_frame_equal(first[0], again[0])
    pd.testing.assert_frame_equal(first[1], again[1])
    credit_model.save(tmp_path / "model")
    loaded = ts.load(tmp_path / "model")
    assert isinstance(loaded, ts.ParentChild)
    restored = loaded.sample(60, random_state=7)
    pd.testing.assert_frame_equal(first[0], restored[0])
    pd.testing.assert_frame_equal(first[1], restored[1])
    assert loaded.running_mean_ == credit_model.running_mean_ == {"children": False}
    assert loaded.layouts_ == {"children": "wide"} and loaded.widths_ == {"children": 6}
    # The model's own stream continues identically after a save / load.
    pd.testing.assert_frame_equal(credit_model.sample(20)[1], loaded.sample(20)[1])


def test_running_mean_is_on_for_event_sequences_and_off_for_panels(credit, cdnow_model, credit_model):
    # CDNOW: purchases of varying number per customer; credit: six statements for every client.
    assert cdnow_model.running_mean_ == {"children": True}
    assert any(c.startswith("__mean__.") for c in cdnow_model.child_models_["children"].encoder_.columns_)
    assert credit_model.running_mean_ == {"children": False}
    customers, statements = credit
    small = customers.head(200)
    sequence = ts.ParentChild(key="ID", order_by="month", layout="sequence", random_state=0,
                              model_params={"epochs": 1}, verbose=False)
    sequence.fit(statements[statements["ID"].isin(small["ID"])], parents=small)
    assert sequence.running_mean_ == {"children": False}
    assert not any(c.startswith("__mean__.") for c in sequence.child_models_["children"].encoder_.columns_)
    forced = ts.ParentChild(key="ID", order_by="month", layout="sequence", running_mean=True, random_state=0,
                            model_params={"epochs": 1}, verbose=False)
    forced.fit(statements[statements["ID"].isin(small["ID"])], parents=small)
    learned = forced.child_models_["children"].encoder_.columns_
    assert {"__mean__.bill_amount", "__mean__.paid_amount"} <= set(learned)
    parents, children = forced.sample(40, random_state=0)
    assert (children.groupby("ID").size() > 0).all() and set(children["ID"]) <= set(parents["ID"])
    with pytest.raises(ValueError, match=r"running_mean must be True, False or 'auto', got 'yes'"):
        ts.ParentChild(key="ID", running_mean="yes").fit(statements, parents=customers)


def test_panels_are_learned_wide_and_event_sequences_as_sequences(cdnow, cdnow_model, credit_model):
    # The panel's statements are columns of the parent model; no separate sequence model.
    assert cdnow_model.layouts_ == {"children": "sequence"} and set(cdnow_model.child_models_) == {"children"}
    assert credit_model.child_models_ == {} and credit_model.widths_ == {"children": 6}
    learned = set(credit_model.parent_model_.metadata_.names)  # (constant gaps: in the metadata, not encoded)
    assert {f"__at{p}__.bill_amount" for p in range(6)} <= learned
    assert {f"__at{p}__.__gap__" for p in range(1, 6)} <= learned and "__at0__.__gap__" not in learned
    # Finer bins for the parent model of a panel (model_params may still set them); the others' default.
    assert credit_model.parent_model_.n_bins == 128 and cdnow_model.parent_model_.n_bins == 32
    # layout="wide" on purchases of varying number: a parent's later positions are nulls, its
    # __n__ says how many purchases are real, and they come out in order with their dates.
    wide = ts.ParentChild(key="customer_id", order_by="date", layout="wide", max_children=4, random_state=0,
                          model_params={"epochs": 2}, verbose=False).fit(cdnow)
    assert wide.layouts_ == {"children": "wide"} and wide.widths_ == {"children": 4}
    parents, children = wide.sample(500, random_state=0)
    counts = children.groupby("customer_id").size()
    assert counts.max() <= 4 and set(children["customer_id"]) <= set(parents["customer_id"])
    real_counts = cdnow.groupby("customer_id").size().clip(upper=4)
    assert abs(real_counts.mean() - counts.reindex(parents["customer_id"], fill_value=0).mean()) < 0.5
    assert _sorted_within(children, "customer_id", "date")
    assert children["number_of_cds"].notna().all() and children["number_of_cds"].dtype == cdnow["number_of_cds"].dtype
    with pytest.raises(ValueError, match=r"layout='wide' would give child table 'children' \d+ positions"):
        ts.ParentChild(key="customer_id", order_by="date", layout="wide", verbose=False).fit(cdnow)
    with pytest.raises(ValueError, match=r"layout must be 'auto', 'sequence' or 'wide', got 'long'"):
        ts.ParentChild(key="customer_id", layout="long").fit(cdnow)


def test_two_child_tables_of_one_parent(credit):
    customers, statements = credit
    small = customers.head(300)
    rows = statements[statements["ID"].isin(small["ID"])]
    payments = rows[rows["paid_amount"] > 0][["ID", "month", "paid_amount"]]
    model = ts.ParentChild(key="ID", order_by={"statements": "month", "payments": "month"}, random_state=0,
                           model_params={"epochs": 2}, verbose=False)
    model.fit({"statements": rows.drop(columns=["paid_amount"]), "payments": payments}, parents=small)
    parents, children = model.sample(50, random_state=0)
    assert set(children) == {"statements", "payments"}
    for table in children.values():
        assert set(table["ID"]) <= set(parents["ID"])
    # The statements are a panel (wide); the payments vary in number per client (a sequence).
    assert model.layouts_ == {"statements": "wide", "payments": "sequence"}
    assert (children["statements"].groupby("ID").size() == 6).all()


def test_bad_inputs_get_clear_errors(credit):
    customers, statements = credit
    model = ts.ParentChild(key="ID", order_by="month", model_params={"epochs": 1}, verbose=False)
    with pytest.raises(ValueError, match=r"have a 'ID' absent from the parent table"):
        model.fit(statements, parents=customers.iloc[10:])
    with pytest.raises(ValueError, match=r"Key column 'ID' of the parents table is not unique"):
        model.fit(statements, parents=pd.concat([customers, customers.head(2)]))
    bad_order = statements.assign(month=statements["month"].astype(str).where(statements.index != 3, "soon"))
    with pytest.raises(ValueError, match=r"order_by column 'month' of table 'children' does not parse as "
                                         r"datetimes \(e.g. 'soon'\)"):
        model.fit(bad_order, parents=customers)
    with pytest.raises(ValueError, match=r"order_by column 'date' is not in child table 'children'"):
        ts.ParentChild(key="ID", order_by="date").fit(statements, parents=customers)
    with pytest.raises(ValueError, match=r"Child table 'children' has no key column 'customer'"):
        ts.ParentChild(key="customer").fit(statements)
    with pytest.raises(ts.NotFittedError):
        model.sample(3)


# ---------------------------------------------------------------------- the relational report
@pytest.fixture(scope="module")
def credit_split():
    customers, statements = credit_statements(ts.read_table(CREDIT))
    keep = customers["ID"].iloc[:2_000]
    customers, statements = customers[customers["ID"].isin(keep)], statements[statements["ID"].isin(keep)]
    return split_by_parent(customers, statements, key="ID", random_state=0)


def test_a_copy_scores_perfect_fidelity_and_maximal_entity_risk(credit_split):
    (parents, children), holdout = credit_split
    report = evaluate_relational(parents, children, parents.copy(), children.copy(), holdout=holdout, key="ID",
                                 order_by="month", target="default", on_error="raise")
    for key in ("relational.cardinality", "relational.child_column_shapes", "relational.parent_child_trends",
                "relational.gap_shape", "relational.lag_difference_shape", "relational.autocorrelation"):
        assert report.metric(key).value == pytest.approx(1.0), key
    assert report.metric("privacy.exact_copies").value == pytest.approx(1.0)
    assert report.metric("privacy.dcr_share").value > 0.99
    assert report.metric("privacy.mia_distance_auc").value > 0.9
    assert report.metric("fidelity.detection_auc").value < 0.6
    assert report.metric("relational.gap_shape_holdout").value > 0.9


def test_children_shuffled_across_parents_keep_shapes_but_lose_trends_and_coherence(credit_split):
    (parents, children), holdout = credit_split
    rng = np.random.default_rng(0)
    shuffled = children.copy()
    shuffled["ID"] = rng.permutation(shuffled["ID"].to_numpy())  # statements of random customers
    report = evaluate_relational(parents, children, parents, shuffled, holdout=holdout, key="ID", order_by="month",
                                 target="default", on_error="raise")
    assert report.metric("relational.child_column_shapes").value == pytest.approx(1.0)
    assert report.metric("relational.parent_child_trends").value < 0.9
    # Coherence falls well below what real held-out customers score against the training ones.
    for key in ("relational.autocorrelation", "relational.lag_difference_shape"):
        assert report.metric(key).value < min(0.8, report.metric(key + "_holdout").value - 0.1), key
    # Permuting the key column keeps every customer's number of statements.
    assert report.metric("relational.cardinality").value == pytest.approx(1.0)


def test_repeat_purchase_task_on_cdnow(cdnow, cdnow_model):
    (parents, children), (held_parents, held_children) = split_by_parent(None, cdnow, key="customer_id")
    _, synthetic = cdnow_model.sample(1_200, random_state=0)
    report = evaluate_relational(None, children, None, synthetic, holdout=(None, held_children), key="customer_id",
                                 order_by="date", calibration_end="1997-09-30", on_error="raise")
    assert report.sections["utility"].details["target"] == "buys_again"
    assert 0.6 < report.metric("utility.trtr_boosting_auc").value <= 1.0
    assert report.metric("utility.tstr_boosting_auc").value > 0.6
    entities = entity_table(None, children, key="customer_id", order_by="date")
    assert {"n_children", "dollar_value_sum", "mean_gap", "first_date"} <= set(entities.columns)
    assert len(entities) == children["customer_id"].nunique()
    html = report.to_html()
    assert "Cardinality" in html and "Relational" in html


# ---------------------------------------------------------------------- CLI
def test_cli_fit_sample_report_end_to_end(tmp_path, credit):
    customers, statements = credit
    customers.head(400).to_csv(tmp_path / "customers.csv", index=False)
    statements[statements["ID"].isin(customers["ID"].head(400))].to_csv(tmp_path / "statements.csv", index=False)
    runner = CliRunner()
    fitted = runner.invoke(app, ["fit", str(tmp_path / "statements.csv"), "--parent", str(tmp_path / "customers.csv"),
                                 "--key", "ID", "--order-by", "month", "-o", str(tmp_path / "model"), "--epochs",
                                 "1", "--quiet", "--seed", "0"])
    assert fitted.exit_code == 0, fitted.output
    sampled = runner.invoke(app, ["sample", str(tmp_path / "model"), "-n", "40", "-o", str(tmp_path / "out"),
                                  "--format", "parquet", "--condition", "SEX=2"])
    assert sampled.exit_code == 0, sampled.output
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["customers.parquet", "statements.parquet"]
    synthetic_parents = ts.read_table(tmp_path / "out" / "customers.parquet")
    assert len(synthetic_parents) == 40 and (synthetic_parents["SEX"] == 2).all()
    again = runner.invoke(app, ["sample", str(tmp_path / "model"), "-n", "5", "-o", str(tmp_path / "out"),
                                "--format", "parquet"])
    assert isinstance(again.exception, FileExistsError) and "Refusing to overwrite" in str(again.exception)
    reported = runner.invoke(app, ["report", "--key", "ID", "--order-by", "month",
                                   "--real", str(tmp_path / "statements.csv"),
                                   "--real-parents", str(tmp_path / "customers.csv"),
                                   "--synthetic", str(tmp_path / "out" / "statements.parquet"),
                                   "--synthetic-parents", str(tmp_path / "out" / "customers.parquet"),
                                   "-o", str(tmp_path / "report.html"), "--json", str(tmp_path / "report.json")])
    assert reported.exit_code == 0, reported.output
    assert "relational.cardinality" in (tmp_path / "report.json").read_text()


def test_cli_keys_only_parents_are_named_parents(tmp_path, cdnow):
    cdnow[cdnow["customer_id"] < 2_000].to_csv(tmp_path / "transactions.csv", index=False)
    runner = CliRunner()
    fitted = runner.invoke(app, ["fit", str(tmp_path / "transactions.csv"), "--key", "customer_id", "--order-by",
                                 "date", "-o", str(tmp_path / "model"), "--epochs", "1", "--quiet"])
    assert fitted.exit_code == 0, fitted.output
    sampled = runner.invoke(app, ["sample", str(tmp_path / "model"), "-n", "30", "-o", str(tmp_path / "out")])
    assert sampled.exit_code == 0, sampled.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["parents.csv", "transactions.csv"]
    misuse = runner.invoke(app, ["fit", str(tmp_path / "transactions.csv"), "--order-by", "date", "-o",
                                 str(tmp_path / "other")])
    assert isinstance(misuse.exception, ValueError) and "give --key too" in str(misuse.exception)
