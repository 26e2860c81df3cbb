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
    assert credit_model.layouts_ == {"children": "sequence"}
    assert (counts == 6).mean() > 0.95  # every real customer has six statements
    assert _sorted_within(children, "ID", "month")
    months = set(statements["month"])
    assert children["month"].isin(months).mean() > 0.9


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
    assert loaded.history_ == credit_model.history_ == {"children": 2}
    assert loaded.layouts_ == {"children": "sequence"} and loaded.widths_ == {}
    # The model's own stream continues identically after a save / load.
    pd.testing.assert_frame_equal(credit_model.sample(20)[1], loaded.sample(20)[1])


def test_history_is_two_statements_for_panels_and_one_purchase_for_event_sequences(credit, cdnow_model,
                                                                                   credit_model):
    assert credit_model.history_ == {"children": 2} and cdnow_model.history_ == {"children": 1}
    assert "__lag2__.bill_amount" in credit_model.child_models_["children"].encoder_.columns_
    assert not any(c.startswith("__lag2__.") for c in cdnow_model.child_models_["children"].encoder_.columns_)
    customers, statements = credit
    small = customers.head(200)
    chosen = ts.ParentChild(key="ID", order_by="month", history=3, random_state=0, model_params={"epochs": 1},
                            verbose=False).fit(statements[statements["ID"].isin(small["ID"])], parents=small)
    assert chosen.history_ == {"children": 3}
    # A panel of two statements has no statement two back: "auto" looks one back.
    two = statements[statements["ID"].isin(small["ID"]) & (statements["month"] >= "2005-08-01")]
    short = ts.ParentChild(key="ID", order_by="month", random_state=0, model_params={"epochs": 1},
                           verbose=False).fit(two, parents=small)
    assert short.history_ == {"children": 1}
    assert (short.sample(20, random_state=0)[1].groupby("ID").size() == 2).all()
    with pytest.raises(ValueError, match=r"^history must be 'auto' or an integer from 1 to 16 \(previous children "
                                         r"each child sees\), got 0\.$"):
        ts.ParentChild(key="ID", history=0).fit(statements, parents=customers)


def test_running_mean_is_on_for_event_sequences_and_off_for_panels(credit, cdnow_model, credit_model):
    # CDNOW: purchases of varying number per customer; credit: six statements for every client.
    assert cdnow_model.running_mean_ == {"children": True}
    assert any(c.startswith("__mean__.") for c in cdnow_model.child_models_["children"].encoder_.columns_)
    assert credit_model.running_mean_ == {"children": False}
    assert not any(c.startswith("__mean__.") for c in credit_model.child_models_["children"].encoder_.columns_)
    customers, statements = credit
    small = customers.head(200)
    forced = ts.ParentChild(key="ID", order_by="month", running_mean=True, random_state=0,
                            model_params={"epochs": 1}, verbose=False)
    forced.fit(statements[statements["ID"].isin(small["ID"])], parents=small)
    learned = forced.child_models_["children"].encoder_.columns_
    assert {"__mean__.bill_amount", "__mean__.paid_amount"} <= set(learned)
    parents, children = forced.sample(40, random_state=0)
    assert (children.groupby("ID").size() > 0).all() and set(children["ID"]) <= set(parents["ID"])
    with pytest.raises(ValueError, match=r"running_mean must be True, False or 'auto', got 'yes'"):
        ts.ParentChild(key="ID", running_mean="yes").fit(statements, parents=customers)


def test_the_sequence_model_draws_the_child_given_its_context_with_fine_numbers(credit, credit_model):
    child = credit_model.child_models_["children"]
    # Conditional: the parent, the position and the two previous statements are context, never drawn.
    assert child.context_columns_ == [c for c in child.encoder_.columns_ if c.startswith(
        ("__parent__.", "__lag1__.", "__lag2__.", "__position__", "__elapsed__"))]
    assert set(child.encoder_.columns_) - set(child.context_columns_) == {"repayment_status", "bill_amount",
                                                                          "paid_amount", "__gap__"}
    # Every number a statement carries to the next has a fine token; parent numbers do not, nor
    # the gap (30 or 31 days: point masses, no bin to place a value in).
    fine = {c[: -len("#fine")] for c in child.encoder_.token_columns_ if c.endswith("#fine")}
    assert fine == {"bill_amount", "paid_amount", "__lag1__.bill_amount", "__lag1__.paid_amount",
                    "__lag2__.bill_amount", "__lag2__.paid_amount"}
    with pytest.raises(ValueError, match=r"^This model learns the other columns given the context"):
        child.sample(5)
    customers, statements = credit
    small = customers.head(300)
    plain = ts.ParentChild(key="ID", order_by="month", fine_bins=1, random_state=0, model_params={"epochs": 1},
                           verbose=False).fit(statements[statements["ID"].isin(small["ID"])], parents=small)
    assert not any(c.endswith("#fine") for c in plain.child_models_["children"].encoder_.token_columns_)
    with pytest.raises(ValueError, match=r"^fine_bins must be a positive integer \(1: no fine tokens\), got 0\.$"):
        ts.ParentChild(key="ID", fine_bins=0).fit(statements, parents=customers)


@pytest.fixture(scope="module")
def credit_wide(credit):
    customers, statements = credit
    return ts.ParentChild(key="ID", order_by="month", layout="wide", random_state=0, model_params=FAST,
                          verbose=False).fit(statements, parents=customers)


def test_a_panel_in_wide_layout_keeps_every_statement_in_order(tmp_path, credit, credit_wide):
    customers, statements = credit
    # The statements are columns of the parent model (128 bins there); no separate sequence model.
    assert credit_wide.layouts_ == {"children": "wide"} and credit_wide.widths_ == {"children": 6}
    assert credit_wide.child_models_ == {} and credit_wide.parent_model_.n_bins == 128
    learned = set(credit_wide.parent_model_.metadata_.names)  # (constant gaps: in the metadata, not encoded)
    assert {f"__at{p}__.bill_amount" for p in range(6)} <= learned
    assert {f"__at{p}__.__gap__" for p in range(1, 6)} <= learned and "__at0__.__gap__" not in learned
    parents, children = credit_wide.sample(300, random_state=3)
    assert list(parents.columns) == list(customers.columns) and list(children.columns) == list(statements.columns)
    assert (children.groupby("ID").size() == 6).all() and set(children["ID"]) == set(parents["ID"])
    # Every client's six months are April..September 2005, as in every real client's panel.
    months = children.groupby("ID")["month"].apply(tuple)
    assert (months == tuple(sorted(set(statements["month"])))).mean() > 0.95
    for column in statements.columns:
        assert children[column].dtype == statements[column].dtype, column
    # Every position of a column has the column's kind (nullable only under DP or where the data has nulls).
    meta = credit_wide.parent_model_.metadata_
    assert all(meta[f"__at{p}__.repayment_status"].kind == meta["__at0__.repayment_status"].kind for p in range(6))
    assert not any(meta[f"__at{p}__.bill_amount"].nullable for p in range(6))
    conditioned, _ = credit_wide.sample(100, conditions={"default": 1}, random_state=4)
    assert (conditioned["default"] == 1).all()
    histories = credit_wide.sample_children(customers.head(20), random_state=5)
    assert set(histories["ID"]) == set(customers["ID"].head(20)) and (histories.groupby("ID").size() == 6).all()
    credit_wide.save(tmp_path / "wide")
    loaded = ts.load(tmp_path / "wide")
    assert loaded.layouts_ == {"children": "wide"} and loaded.widths_ == {"children": 6}
    for a, b in zip(credit_wide.sample(60, random_state=7), loaded.sample(60, random_state=7)):
        pd.testing.assert_frame_equal(a, b)


def test_wide_layout_on_sequences_of_varying_length(cdnow, credit):
    # Purchases: a parent's later positions are nulls, its __n__ says how many purchases are real.
    wide = ts.ParentChild(key="customer_id", order_by="date", layout="wide", max_children=4, random_state=0,
                          model_params={"epochs": 2}, verbose=False).fit(cdnow)
    assert wide.layouts_ == {"children": "wide"} and wide.widths_ == {"children": 4}
    parents, children = wide.sample(500, random_state=0)
    counts = children.groupby("customer_id").size().reindex(parents["customer_id"], fill_value=0)
    real_counts = cdnow.groupby("customer_id").size().clip(upper=4)
    assert counts.max() <= 4 and set(children["customer_id"]) <= set(parents["customer_id"])
    assert abs(real_counts.mean() - counts.mean()) < 0.3
    assert abs((real_counts == 1).mean() - (counts == 1).mean()) < 0.1
    gaps = children.groupby("customer_id")["date"].diff().dropna()
    assert (gaps >= pd.Timedelta(0)).all() and children["date"].max() <= cdnow["date"].max() + pd.Timedelta(days=366)
    # A present purchase never lacks a value its column never lacked (imputed when drawn null).
    assert children["number_of_cds"].notna().all() and children["number_of_cds"].dtype == cdnow["number_of_cds"].dtype
    # A position that no parent fills in a column (the last month's payment, never known) comes out null.
    customers, statements = credit
    last = statements["month"] == statements["month"].max()
    unpaid = statements.assign(paid_amount=statements["paid_amount"].astype(float).where(~last))
    model = ts.ParentChild(key="ID", order_by="month", layout="wide", random_state=0, model_params={"epochs": 1},
                           verbose=False).fit(unpaid, parents=customers)
    _, children = model.sample(50, random_state=0)
    at_last = children.groupby("ID").cumcount() == 5
    assert children.loc[at_last, "paid_amount"].isna().all() and children.loc[~at_last, "paid_amount"].notna().all()
    assert children["paid_amount"].dtype == np.float64
    with pytest.raises(ValueError, match=r"layout='wide' would give child table 'children' \d+ positions"):
        ts.ParentChild(key="customer_id", order_by="date", layout="wide", verbose=False).fit(cdnow)
    with pytest.raises(ValueError, match=r"layout must be 'sequence', 'wide' or a dict"):
        ts.ParentChild(key="customer_id", layout="long").fit(cdnow)


def test_a_format_1_model_directory_still_loads(tmp_path, credit_model):
    import json

    credit_model.save(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    config["model_format"] = 1  # as written before the wide layout: no layouts, widths or layout param
    for field in ("layouts", "widths", "never_null", "history"):
        config["schema"].pop(field)
    config["params"].pop("layout")
    config["params"].pop("fine_bins")
    config["params"]["history"] = 2  # before "auto", the one history the model was given
    (tmp_path / "model" / "config.json").write_text(json.dumps(config))
    loaded = ts.load(tmp_path / "model")
    assert loaded.layouts_ == {"children": "sequence"} and loaded.history_ == {"children": 2}
    for a, b in zip(credit_model.sample(40, random_state=9), loaded.sample(40, random_state=9)):
        pd.testing.assert_frame_equal(a, b)


def test_two_child_tables_of_one_parent(credit):
    customers, statements = credit
    small = customers.head(300)
    rows = statements[statements["ID"].isin(small["ID"])]
    payments = rows[rows["paid_amount"] > 0][["ID", "month", "paid_amount"]]
    model = ts.ParentChild(key="ID", order_by={"statements": "month", "payments": "month"}, random_state=0,
                           layout={"statements": "wide"}, model_params={"epochs": 2}, verbose=False)
    model.fit({"statements": rows.drop(columns=["paid_amount"]), "payments": payments}, parents=small)
    parents, children = model.sample(50, random_state=0)
    assert set(children) == {"statements", "payments"}
    for table in children.values():
        assert set(table["ID"]) <= set(parents["ID"])
    # The statements in wide layout; the payments, varying in number per client, a sequence that
    # does not see the statements' wide columns as context.
    assert model.layouts_ == {"statements": "wide", "payments": "sequence"}
    assert (children["statements"].groupby("ID").size() == 6).all()
    assert not any("__at" in c for c in model.child_models_["payments"].metadata_.names)


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
                "relational.parent_child_trends_real_bins", "relational.child_pair_trends_real_bins",
                "relational.gap_shape", "relational.lag_difference_shape", "relational.autocorrelation"):
        assert report.metric(key).value == pytest.approx(1.0), key
    assert report.metric("privacy.exact_copies").value == pytest.approx(1.0)
    assert report.metric("privacy.dcr_share").value > 0.99
    assert report.metric("privacy.mia_distance_auc").value > 0.9
    assert report.metric("fidelity.detection_auc").value < 0.6
    assert report.metric("relational.gap_shape_holdout").value > 0.9


def test_trend_baselines_are_what_the_real_holdout_scores(credit_split):
    """The held-out customers given as the synthetic tables score exactly their own baseline
    (the baseline compares the same real rows with them), and below a copy's 1."""
    (parents, children), holdout = credit_split
    report = evaluate_relational(parents, children, *holdout, holdout=holdout, key="ID", order_by="month",
                                 target="default", on_error="raise")
    for key in ("relational.parent_child_trends", "relational.child_pair_trends"):
        baseline = report.metric(key + "_holdout").value
        assert 0.5 < baseline < 1.0, key
        assert report.metric(key).value == pytest.approx(baseline), key
    assert report.metric("relational.cardinality_holdout").value == report.metric("relational.cardinality").value
    assert report.metric("privacy.dcr_share_holdout").value is not None
    without = evaluate_relational(parents, children, *holdout, key="ID", order_by="month", on_error="raise")
    assert without.metric("relational.parent_child_trends_holdout").value is None
    assert without.metric("relational.parent_child_trends").value == report.metric(
        "relational.parent_child_trends").value  # the baselines draw no row of the synthetic figures


def test_children_shuffled_across_parents_keep_shapes_but_lose_trends_and_coherence(credit_split):
    (parents, children), holdout = credit_split
    rng = np.random.default_rng(0)
    shuffled = children.copy()
    shuffled["ID"] = rng.permutation(shuffled["ID"].to_numpy())  # statements of random customers
    report = evaluate_relational(parents, children, parents, shuffled, holdout=holdout, key="ID", order_by="month",
                                 target="default", on_error="raise")
    assert report.metric("relational.child_column_shapes").value == pytest.approx(1.0)
    assert report.metric("relational.parent_child_trends").value < 0.9
    assert report.metric("relational.parent_child_trends_real_bins").value < 0.9
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
    wide = runner.invoke(app, ["fit", str(tmp_path / "statements.csv"), "--parent", str(tmp_path / "customers.csv"),
                               "--key", "ID", "--order-by", "month", "--layout", "wide", "--max-children", "6",
                               "-o", str(tmp_path / "wide"), "--epochs", "1", "--quiet", "--seed", "0"])
    assert wide.exit_code == 0, wide.output
    assert ts.load(tmp_path / "wide").layouts_ == {"statements": "wide"}


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
    misuse = runner.invoke(app, ["fit", str(tmp_path / "transactions.csv"), "--layout", "wide", "-o",
                                 str(tmp_path / "other")])
    assert isinstance(misuse.exception, ValueError) and "give --key too" in str(misuse.exception)


def test_a_running_mean_constant_in_training_takes_generated_values(cdnow):
    # CDNOW purchases re-dated one week apart: every gap is 7 days, so the running mean of the
    # gaps is one value in training; generated gaps (0 days, 9 days) must still be accepted.
    weekly = cdnow[cdnow["customer_id"].isin(cdnow["customer_id"].unique()[:400])].copy()
    position = weekly.groupby("customer_id").cumcount()
    weekly["date"] = weekly.groupby("customer_id")["date"].transform("min") + pd.to_timedelta(7 * position, unit="D")
    model = ts.ParentChild(key="customer_id", order_by="date", random_state=0, model_params={"epochs": 2},
                           verbose=False).fit(weekly)
    assert model.child_models_["children"].metadata_["__mean__.__gap__"].kind == "numerical"
    for seed in range(3):
        parents, children = model.sample(300, random_state=seed)
        assert set(children["customer_id"]) <= set(parents["customer_id"])
