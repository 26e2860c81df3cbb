"""Fidelity section on real tables: identical copies, independently shuffled columns, the pure metrics."""

from __future__ import annotations

import base64
import json
import re
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from tabsynth import Metadata
from tabsynth.evaluation import detection, fidelity
from tabsynth.evaluation.figures import fidelity as fidelity_figures
from tabsynth.evaluation.tables import EvaluationTables

ROWS = 4000
MAX_ROWS = 4000


@pytest.fixture(scope="module")
def credit_sample(credit):
    return credit.sample(ROWS, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module")
def copy_section(credit_sample):
    tables = EvaluationTables.prepare(credit_sample, credit_sample.copy())
    return fidelity.fidelity_section(tables, max_rows=MAX_ROWS, random_state=0), tables


@pytest.fixture(scope="module")
def shuffled_section(credit_sample):
    rng = np.random.default_rng(1)
    shuffled = credit_sample.copy()
    for column in shuffled.columns:
        shuffled[column] = shuffled[column].to_numpy()[rng.permutation(len(shuffled))]
    tables = EvaluationTables.prepare(credit_sample, shuffled)
    return fidelity.fidelity_section(tables, max_rows=MAX_ROWS, random_state=0)


def test_identical_copy_scores_perfectly(copy_section):
    section, _ = copy_section
    assert section.metric("fidelity.column_shapes").value == pytest.approx(1.0, abs=1e-9)
    assert section.metric("fidelity.pair_trends").value == pytest.approx(1.0, abs=1e-9)
    assert section.metric("fidelity.detection_auc").value < 0.6
    assert section.metric("fidelity.max_null_rate_gap").value == 0.0
    assert section.metric("fidelity.category_coverage").value == 1.0
    assert section.metric("fidelity.range_coverage").value == 1.0
    assert section.details["verdict"] == "good"


def test_shuffled_columns_keep_shapes_but_lose_pairs_and_are_detected(shuffled_section):
    assert shuffled_section.metric("fidelity.column_shapes").value > 0.99
    assert shuffled_section.metric("fidelity.pair_trends").value < 0.9
    assert shuffled_section.metric("fidelity.detection_auc").value > 0.7
    worst = shuffled_section.details["worst_pairs"]
    assert len(worst) == fidelity.WORST_PAIRS
    assert [p["score"] for p in worst] == sorted(p["score"] for p in worst)
    # The worst pairs are strongly related in the real table (repayment statuses of
    # consecutive months) and unrelated after shuffling.
    assert all(p["real"] > 0.5 and abs(p["synthetic"]) < 0.1 for p in worst)
    bills = next(p for p in shuffled_section.details["pairs"] if p["columns"] == ["BILL_AMT1", "BILL_AMT2"])
    assert bills["real"] > 0.9 and abs(bills["synthetic"]) < 0.1 and bills["score"] < 0.6
    assert shuffled_section.details["verdict"] == "poor"


def test_section_details_are_plain_json(copy_section, credit_sample):
    section, tables = copy_section
    payload = json.loads(json.dumps(section.to_dict(), allow_nan=False))
    columns = payload["details"]["columns"]
    assert [c["column"] for c in columns] == tables.columns
    assert {c["metric"] for c in columns if c["kind"] == "numerical"} == {"KSComplement"}
    assert {c["metric"] for c in columns if c["kind"] == "categorical"} == {"TVComplement"}
    n = len(tables.columns)
    assert len(payload["details"]["pairs"]) == n * (n - 1) // 2
    detection = payload["details"]["detection"]
    assert set(detection) >= {"auc", "auc_std", "top_features"}
    assert [m["key"] for m in payload["metrics"]] == [
        "fidelity.column_shapes", "fidelity.pair_trends", "fidelity.detection_auc",
        "fidelity.max_null_rate_gap", "fidelity.category_coverage", "fidelity.range_coverage"]


def test_ks_complement_matches_scipy_on_real_columns(adult_train, adult_test):
    real, synthetic = adult_train["age"].to_numpy(float), adult_test["age"].to_numpy(float)
    expected = 1.0 - ks_2samp(real, synthetic).statistic
    assert fidelity.ks_complement(real, synthetic) == pytest.approx(expected, abs=1e-12)


def test_tv_complement_ignores_nulls_and_counts_unseen_categories(adult_train):
    real = adult_train["workclass"].head(1000)
    synthetic = real.copy()
    synthetic.iloc[:100] = None  # nulls are dropped: the remaining shares barely move
    assert fidelity.tv_complement(real, synthetic) > 0.98
    synthetic = real.copy()
    synthetic.iloc[:100] = "Invented"  # 10% of rows in a category the real table lacks
    assert fidelity.tv_complement(real, synthetic) == pytest.approx(0.9, abs=1e-12)


def test_coverage_of_categories_and_range(adult_train):
    workclass = adult_train["workclass"]
    common = workclass.value_counts().index[0]
    assert fidelity.category_coverage(workclass, workclass[workclass == common]) == \
        pytest.approx(1 / workclass.nunique())
    age = adult_train["age"].to_numpy(float)
    lower_half = age[age <= np.median(age)]
    expected = (np.median(age) - age.min()) / (age.max() - age.min())
    assert fidelity.range_coverage(age, lower_half) == pytest.approx(expected)
    assert fidelity.range_coverage(age, age + 1000.0) == 0.0


def test_correlation_similarity_uses_pearson(credit_sample):
    real = credit_sample[["BILL_AMT1", "BILL_AMT2"]].to_numpy(float)
    score, r_real, r_synth = fidelity.correlation_similarity(real, real[:, ::-1])
    assert r_real == pytest.approx(np.corrcoef(real.T)[0, 1]) and score == pytest.approx(1.0)
    score, _, r_synth = fidelity.correlation_similarity(real, np.column_stack([real[:, 0], -real[:, 1]]))
    assert score == pytest.approx(1 - abs(r_real - r_synth) / 2) and r_synth == pytest.approx(-r_real)


def test_bin_codes_share_real_bins_and_reject_unknown_mode(credit_sample):
    limit = credit_sample["LIMIT_BAL"].to_numpy(float)
    codes = fidelity.bin_codes(np.r_[limit, np.nan, 1e12], limit)
    assert codes.min() >= 1 and codes[-2] == fidelity.PAIR_BINS + 1 and codes[-1] == fidelity.PAIR_BINS
    with pytest.raises(ValueError, match=r"^edges must be 'real' or 'sdmetrics', got 'own'\.$"):
        fidelity.bin_codes(limit, limit, edges="own")


def test_max_rows_below_two_is_refused(copy_section):
    _, tables = copy_section
    with pytest.raises(ValueError, match=r"^max_rows must be at least 2 for the fidelity section, got 1\.$"):
        fidelity.fidelity_section(tables, max_rows=1)


def test_detection_is_not_computed_when_too_few_rows(copy_section):
    _, tables = copy_section
    section = fidelity.fidelity_section(tables, max_rows=6, random_state=0)
    metric = section.metric("fidelity.detection_auc")
    assert metric.value is None
    assert metric.note == ("Detection needs at least 5 rows per table but only 3 can be drawn; "
                           "use larger tables or max_rows >= 10.")
    assert section.details["detection"] is None


def test_figures_are_embedded_pngs(copy_section):
    section, tables = copy_section
    found = fidelity_figures.figures(section, tables)
    assert [f.title for f in found] == ["Column distributions, real vs synthetic",
                                        "Correlations between numerical columns"]
    for figure in found:
        assert base64.b64decode(figure.png_base64)[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------- detection folds and interval
def test_identical_rows_share_a_group_nan_and_signed_zero_included():
    X = np.array([[1.0, np.nan], [1.0, np.nan], [-0.0, 2.0], [0.0, 2.0], [1.0, 3.0]])
    assert detection.identical_row_groups(X).tolist() == [0, 0, 1, 1, 2]


def test_grouped_folds_keep_every_cdnow_copy_in_one_fold(cdnow):
    rows = cdnow.head(4000)
    tables = EvaluationTables.prepare(rows, rows.copy())
    X = np.vstack([detection.detection_features(tables, tables.real)[0]] * 2)
    y = np.r_[np.zeros(len(rows)), np.ones(len(rows))]
    groups = detection.identical_row_groups(X)
    folds = detection.grouped_folds(y, groups, random_state=0)
    fold_of = np.empty(len(y), dtype=int)
    for k, (train, test) in enumerate(folds):
        fold_of[test] = k
        assert not set(groups[train]) & set(groups[test])
        assert abs(y[test].mean() - 0.5) < 0.01 and abs(len(test) - len(y) / 5) < 0.01 * len(y)
    assert all(len(set(fold_of[groups == g])) == 1 for g in np.unique(groups))


def test_detection_refuses_too_few_distinct_rows(adult_train):
    rows = pd.concat([adult_train.head(3)] * 10, ignore_index=True)  # 3 distinct rows, 30 rows
    tables = EvaluationTables.prepare(rows, rows.copy())
    with pytest.raises(ValueError, match=re.escape(
            "Detection needs at least 5 distinct rows over both tables to form 5 folds that keep identical rows "
            "together, but the sampled rows hold only 3; compare more varied tables.")):
        detection.detection(tables, tables.real, tables.synthetic, max_rows=60)


def test_detection_refuses_a_fold_of_one_table_only(adult_train):
    # Three rows repeated ten times in each table, none shared: some held-out fold gets real rows only.
    real = pd.concat([adult_train.iloc[:3]] * 10, ignore_index=True)
    synthetic = pd.concat([adult_train.iloc[100:103]] * 10, ignore_index=True)
    tables = EvaluationTables.prepare(real, synthetic, metadata=Metadata.infer(adult_train))
    with pytest.raises(ValueError, match=re.escape(
            "Detection AUC is undefined: held-out fold 1 of 5 holds only real rows, because the sampled rows form "
            "only 6 distinct rows, some repeated many times; compare more varied tables.")):
        detection.detection(tables, tables.real, tables.synthetic, max_rows=60)


def test_auc_interval_is_the_corrected_resampled_t():
    aucs = [0.50, 0.52, 0.48, 0.51, 0.49]
    half = 2.7764451051977987 * np.std(aucs, ddof=1) * np.sqrt(1 / 5 + 1 / 4)  # t(0.975, 4)
    assert detection.auc_interval(aucs, 0.25) == pytest.approx((0.5 - half, 0.5 + half), abs=1e-12)
    assert detection.auc_interval([0.99, 1.0, 1.0, 1.0, 1.0], 0.25)[1] == 1.0


def test_detection_on_tiny_tables_fits_without_early_stopping(copy_section):
    _, tables = copy_section
    section = fidelity.fidelity_section(tables, max_rows=10, random_state=0)  # 5 rows per table
    metric = section.metric("fidelity.detection_auc")
    assert metric.value is not None and metric.ci[0] <= metric.value <= metric.ci[1]
    assert metric.note == ("The tables are too small for the classifier's early-stopping split, "
                           "so it was fitted without early stopping.")
    assert section.details["detection"]["early_stopping"] is False


# ---------------------------------------------------------------------------- near-unique columns
def test_sparse_cramers_v_matches_the_dense_table(credit_sample):
    for first, second in (("PAY_0", "PAY_2"), ("EDUCATION", "MARRIAGE"), ("SEX", "default payment next month")):
        a = pd.factorize(credit_sample[first])[0]
        b = pd.factorize(credit_sample[second])[0]
        joint = np.zeros((a.max() + 1, b.max() + 1))
        np.add.at(joint, (a, b), 1.0 / len(a))
        assert fidelity._sparse_cramers_v(a, b) == pytest.approx(fidelity.cramers_v(joint), abs=1e-12)


def test_pair_of_two_near_unique_text_columns_costs_rows_not_levels(adult_train):
    # 20,000 rows each: a dense joint table of the two columns would hold 1.6e9 cells (13 GB).
    real = adult_train.head(20_000).reset_index(drop=True)
    synthetic = adult_train.iloc[-20_000:].reset_index(drop=True)
    for frame, tag in ((real, "r"), (synthetic, "s")):
        frame["name"] = [f"{o}-{tag}{i // 2}" for i, o in enumerate(frame["occupation"])]
        frame["email"] = [f"{name.lower()}@example.org" for name in frame["name"]]
    columns = ["name", "email", "sex"]
    tables = EvaluationTables.prepare(real[columns], synthetic[columns])
    assert [tables.metadata[c].kind for c in columns] == ["categorical"] * 3
    tracemalloc.start()
    pairs = fidelity.pair_scores(tables, tables.real, tables.synthetic)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100e6
    names = next(p for p in pairs if p["columns"] == ["name", "email"])
    assert names["score"] == pytest.approx(0.0)  # no (name, email) pair of the real table recurs
    assert names["real"] == pytest.approx(1.0)  # each name has its own e-mail address
