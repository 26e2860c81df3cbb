"""Utility section on real tables: TSTR vs TRTR, skipped reasons, degenerate synthetic targets, figures."""

from __future__ import annotations

import base64
import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from tabsynth import Metadata
from tabsynth.evaluation.boosting import early_stopping_blocker
from tabsynth.evaluation.figures import utility as utility_figures
from tabsynth.evaluation.tables import EvaluationTables
from tabsynth.evaluation.utility import (
    FAMILIES,
    importance_correlation,
    label_text,
    macro_ovr_auc,
    rank_agreement,
    tstr_trtr_ratio,
    utility_section,
    utility_verdict,
)

TARGET = "default payment next month"
# Small enough to keep each section to a second or two on a shared 2-core machine.
MAX_ROWS = 4_000
SEED = 0
CLASSIFICATION_KEYS = [f"utility.{mode}_{family}_{name}" for mode in ("tstr", "trtr") for family in FAMILIES
                       for name in ("auc", "accuracy", "f1")]
SUMMARY_KEYS = ["utility.tstr_trtr_ratio", "utility.rank_agreement", "utility.importance_correlation"]


def _whole(message: str) -> str:
    return "^" + re.escape(message) + "$"


def _split(frame: pd.DataFrame, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded 80% / 20% split of a real table into train and holdout."""
    order = np.random.default_rng(seed).permutation(len(frame))
    cut = int(0.8 * len(frame))
    return frame.iloc[order[:cut]].reset_index(drop=True), frame.iloc[order[cut:]].reset_index(drop=True)


def _shuffled(frame: pd.DataFrame, seed: int = SEED) -> pd.DataFrame:
    """Every column permuted independently: marginals kept, every relation between columns destroyed."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: frame[c].to_numpy()[rng.permutation(len(frame))] for c in frame.columns})


def _section(train, synthetic, holdout, target=TARGET, max_rows=MAX_ROWS, metadata=None):
    tables = EvaluationTables.prepare(train, synthetic, holdout, target=target, metadata=metadata)
    return utility_section(tables, max_rows=max_rows, random_state=SEED), tables


@pytest.fixture(scope="module")
def credit_split(credit):
    return _split(credit)


@pytest.fixture(scope="module")
def identical(credit_split):
    train, holdout = credit_split
    return _section(train, train.copy(), holdout)


@pytest.fixture(scope="module")
def shuffled(credit_split):
    train, holdout = credit_split
    return _section(train, _shuffled(train), holdout)


# ---------------------------------------------------------------------------- classification on credit
def test_synthetic_equal_to_training_data_scores_exactly_like_real(identical):
    section, _ = identical
    assert section.status == "computed"
    assert [m.key for m in section.metrics] == CLASSIFICATION_KEYS + SUMMARY_KEYS
    for family in FAMILIES:
        for name in ("auc", "accuracy", "f1"):
            tstr = section.metric(f"utility.tstr_{family}_{name}").value
            assert tstr == section.metric(f"utility.trtr_{family}_{name}").value
    assert section.metric("utility.tstr_trtr_ratio").value == 1.0
    assert section.metric("utility.rank_agreement").value == 1.0
    assert section.metric("utility.importance_correlation").value == pytest.approx(1.0, abs=1e-12)
    assert section.details["verdict"] == "good"


def test_credit_scores_are_in_the_known_range(identical):
    # Yeh & Lien (2009) report AUCs around 0.7-0.8 on this table; boosting beats the linear model.
    section, _ = identical
    assert 0.70 < section.metric("utility.trtr_linear_auc").value < 0.80
    assert 0.74 < section.metric("utility.trtr_boosting_auc").value < 0.82
    assert 0.75 < section.metric("utility.trtr_boosting_accuracy").value < 0.86
    assert 0.3 < section.metric("utility.trtr_boosting_f1").value < 0.6


def test_details_describe_the_task_and_are_plain_json(identical):
    section, _ = identical
    details = section.details
    assert details["task"] == "classification"
    assert details["target"] == TARGET
    assert details["positive_class"] == 1  # defaulters are the rarer class (22%)
    assert details["rows"] == {"real": MAX_ROWS, "synthetic": MAX_ROWS, "holdout": MAX_ROWS}
    assert set(details["families"]) == {"linear", "boosting"}
    assert details["families"]["boosting"]["tstr"]["note"] is None
    assert [row["column"] for row in details["importances"]][0] == "PAY_0"  # last month's repayment status
    assert len(details["importances"]) == 23
    json.loads(json.dumps(section.to_dict()))  # no numpy values anywhere


def test_shuffled_columns_leave_no_signal_to_learn(shuffled):
    section, _ = shuffled
    for family in FAMILIES:
        assert section.metric(f"utility.tstr_{family}_auc").value == pytest.approx(0.5, abs=0.06)
    assert section.metric("utility.tstr_trtr_ratio").value < 0.7
    assert section.metric("utility.trtr_boosting_auc").value > 0.74
    assert section.details["verdict"] == "poor"


def test_single_class_synthetic_target_gives_notes_not_a_crash(credit_split):
    train, holdout = credit_split
    synthetic = train.copy()
    synthetic[TARGET] = 0
    section, _ = _section(train, synthetic, holdout)
    note = (f"Target '{TARGET}' has a single class (0) in the synthetic table, "
            f"so no classifier can be trained on it.")
    for family in FAMILIES:
        for name in ("auc", "accuracy", "f1"):
            metric = section.metric(f"utility.tstr_{family}_{name}")
            assert (metric.value, metric.note) == (None, note)
            assert section.metric(f"utility.trtr_{family}_{name}").value is not None
    for key in SUMMARY_KEYS:
        assert (section.metric(key).value, section.metric(key).note) == (None, note)
    assert [row["synthetic"] for row in section.details["importances"]] == [None] * 23
    assert section.details["verdict"] == "poor"
    assert len(utility_figures.figures(section, None)) == 2


def test_float_classes_with_nulls_in_synthetic_match_the_real_integer_classes(credit_split):
    # A synthetic target read as float (1.0) because it holds nulls is the same class as the real 1.
    train, holdout = credit_split
    synthetic = train.copy()
    synthetic[TARGET] = synthetic[TARGET].astype(float)
    synthetic.loc[:99, TARGET] = np.nan
    section, _ = _section(train, synthetic, holdout)
    assert section.details["positive_class"] == 1
    assert section.metric("utility.tstr_boosting_auc").value == pytest.approx(
        section.metric("utility.trtr_boosting_auc").value, abs=0.02)
    assert [label_text(v) for v in (1, 1.0, np.int64(1), 1.5, "a", True)] == ["1", "1", "1", "1.5", "a", "True"]


def test_multiclass_target_uses_macro_scores(credit_split):
    train, holdout = credit_split
    section, _ = _section(train, train.copy(), holdout, target="MARRIAGE")
    assert section.details["positive_class"] is None  # macro F1 over the classes
    auc = section.metric("utility.trtr_boosting_auc").value
    assert 0.5 < auc < 1.0
    assert section.metric("utility.tstr_trtr_ratio").value == 1.0


def test_text_labels_on_adult(adult_train):
    train, holdout = _split(adult_train)
    section, _ = _section(train, _shuffled(train), holdout, target="income")
    assert section.details["positive_class"] == ">50K"
    assert section.metric("utility.trtr_boosting_auc").value > 0.88
    assert section.metric("utility.tstr_boosting_auc").value == pytest.approx(0.5, abs=0.06)


# ---------------------------------------------------------------------------- regression
def test_regression_on_a_numerical_target_gives_finite_errors(credit_split):
    train, holdout = credit_split
    section, _ = _section(train, train.copy(), holdout, target="LIMIT_BAL")
    assert section.details["task"] == "regression"
    assert "positive_class" not in section.details
    keys = [f"utility.{mode}_{family}_{name}" for mode in ("tstr", "trtr") for family in FAMILIES
            for name in ("r2", "rmse", "mae")]
    assert [m.key for m in section.metrics] == keys + SUMMARY_KEYS
    for key in keys:
        assert math.isfinite(section.metric(key).value)
    assert 0.3 < section.metric("utility.trtr_boosting_r2").value < 0.8
    # Credit limits are in NT dollars (10,000 to 1,000,000): errors are in the tens of thousands.
    assert 30_000 < section.metric("utility.trtr_boosting_mae").value < section.metric(
        "utility.trtr_boosting_rmse").value < 150_000
    assert section.metric("utility.tstr_trtr_ratio").value == 1.0
    assert section.metric("utility.trtr_boosting_rmse").direction == "lower"


def test_datetime_target_is_refused(credit_split):
    train, holdout = credit_split
    train, holdout = train.copy(), holdout.copy()
    for frame in (train, holdout):
        frame["opened"] = pd.Timestamp("2005-04-01") - pd.to_timedelta(frame["AGE"] * 365, unit="D")
    tables = EvaluationTables.prepare(train, train, holdout, target="opened")
    message = ("Target 'opened' is a datetime column; utility needs a categorical target (classification) "
               "or a numerical one (regression). Pick another target, or convert 'opened' to a number "
               "(e.g. a year) in all three tables and describe it as numerical in the metadata.")
    with pytest.raises(ValueError, match=_whole(message)):
        utility_section(tables, max_rows=MAX_ROWS, random_state=SEED)


# ---------------------------------------------------------------------------- skipped
NO_TARGET = ("No target column: pass target= (the column a model should predict) "
             "to measure train-on-synthetic, test-on-real utility.")
NO_HOLDOUT = ("No holdout table: pass holdout= (real rows the generator never saw) "
              "to measure train-on-synthetic, test-on-real utility.")


@pytest.mark.parametrize(("target", "with_holdout", "reason"), [
    (None, True, NO_TARGET),
    (TARGET, False, NO_HOLDOUT),
    (None, False, NO_TARGET + " " + NO_HOLDOUT),
])
def test_missing_target_or_holdout_skips_with_the_fix(credit_split, target, with_holdout, reason):
    train, holdout = credit_split
    tables = EvaluationTables.prepare(train, train, holdout if with_holdout else None, target=target)
    section = utility_section(tables, max_rows=MAX_ROWS, random_state=SEED)
    assert (section.status, section.skipped_reason, section.metrics) == ("skipped", reason, [])
    assert utility_figures.figures(section, tables) == []


def test_single_class_real_target_skips(credit_split):
    train, holdout = credit_split
    metadata = Metadata.infer(train)  # a constant column would otherwise not be evaluated
    train = train.copy()
    train[TARGET] = 1
    section, _ = _section(train, train, holdout, metadata=metadata)
    assert section.skipped_reason == (
        f"Target '{TARGET}' has a single class (1) in the real table, so no classifier can be trained "
        f"even on real data; choose a target with at least two classes.")


def test_max_rows_below_two_is_refused(credit_split):
    train, holdout = credit_split
    tables = EvaluationTables.prepare(train, train, holdout, target=TARGET)
    with pytest.raises(ValueError, match=_whole("max_rows must be at least 2 to train and score a model; got 1.")):
        utility_section(tables, max_rows=1, random_state=SEED)


# ---------------------------------------------------------------------------- pure functions
def test_summary_functions():
    assert tstr_trtr_ratio(0.6, 0.8) == pytest.approx(0.75)
    assert tstr_trtr_ratio(0.6, -0.1) is None and tstr_trtr_ratio(None, 0.8) is None
    assert rank_agreement({"linear": 0.7, "boosting": 0.8}, {"linear": 0.6, "boosting": 0.9}) == 1.0
    assert rank_agreement({"linear": 0.8, "boosting": 0.7}, {"linear": 0.6, "boosting": 0.9}) == 0.0
    assert rank_agreement({"linear": 0.8, "boosting": 0.8}, {"linear": 0.6, "boosting": 0.9}) == 0.0
    assert rank_agreement({"linear": None, "boosting": 0.8}, {"linear": 0.6, "boosting": 0.9}) is None
    rows = [{"column": c, "synthetic": s, "real": r} for c, s, r in [("a", 3, 30), ("b", 1, 20), ("c", 2, 10)]]
    assert importance_correlation(rows) == pytest.approx(0.5)
    assert importance_correlation([{**row, "synthetic": 0.0} for row in rows]) is None
    assert [utility_verdict(r) for r in (1.2, 0.95, 0.9, 0.5, None)] == ["good", "good", "fair", "poor", "poor"]


def test_macro_auc_skips_classes_absent_from_the_holdout():
    y = np.array(["a", "a", "b", "b"], dtype=object)
    proba = np.array([[0.9, 0.1, 0.0], [0.6, 0.3, 0.1], [0.4, 0.5, 0.1], [0.2, 0.7, 0.1]])
    assert macro_ovr_auc(y, proba, ["a", "b", "c"]) == 1.0
    assert math.isnan(macro_ovr_auc(y[:2], proba[:2], ["a", "b", "c"]))


# ---------------------------------------------------------------------------- figures
def test_figures_are_embedded_pngs(identical):
    section, tables = identical
    found = utility_figures.figures(section, tables)
    assert [f.title for f in found] == ["Train on synthetic vs train on real", "Feature importance: synthetic vs real"]
    for figure in found:
        assert base64.b64decode(figure.png_base64).startswith(b"\x89PNG\r\n\x1a\n")
        assert figure.caption.endswith(".")


# ---------------------------------------------------------------------------- classes too small for a split
def test_early_stopping_blocker_agrees_with_scikit_learn(credit_split):
    train, _ = credit_split
    education = train["EDUCATION"].to_numpy()
    x = train[["LIMIT_BAL", "AGE"]].to_numpy(dtype=float)
    single = np.flatnonzero(education == 0)[:1]  # one row of class 0 among the common classes
    common = np.flatnonzero(np.isin(education, [1, 2, 3]))[:400]
    few = np.concatenate([np.flatnonzero(education == c)[:2] for c in (0, 1, 2, 3, 4, 5, 6)] + [[common[0]]])
    cases = {
        "plenty": (common, None),
        "single": (np.r_[common, single], "class '0' has a single row"),
        # 15 rows: every class has two, but a 10% validation split holds 2 rows for 7 classes.
        "few": (few, "its 15 rows leave 2 for a 10% validation split, fewer than the 7 classes"),
    }
    for name, (rows, expected) in cases.items():
        assert early_stopping_blocker(education[rows]) == expected, name
        model = HistGradientBoostingClassifier(early_stopping=True, max_iter=5, random_state=0)
        with threadpool_limits(limits=1):
            if expected is None:
                model.fit(x[rows], education[rows])
            else:
                with pytest.raises(ValueError, match="least populated class|should be greater or equal"):
                    model.fit(x[rows], education[rows])


def test_a_single_positive_row_is_fitted_without_early_stopping(credit_split):
    # Leaving the one row of class 1 out would leave a single class, so every row is kept.
    train, holdout = credit_split
    synthetic = train.head(MAX_ROWS).copy()  # MAX_ROWS rows: no subsample can drop the positive row
    synthetic[TARGET] = 0
    synthetic.loc[5, TARGET] = 1
    section, _ = _section(train, synthetic, holdout)
    note = ("Gradient boosting was fitted on the synthetic table without early stopping (all 100 iterations): "
            f"class 1 of '{TARGET}' has a single row, too few for its stratified validation split.")
    assert section.notes == [note]
    for name in ("auc", "accuracy", "f1"):
        metric = section.metric(f"utility.tstr_boosting_{name}")
        assert metric.value is not None and metric.note == note
        assert section.metric(f"utility.trtr_boosting_{name}").note is None
    assert 0.4 < section.metric("utility.tstr_boosting_auc").value < 0.65  # one positive row teaches little
    assert section.metric("utility.tstr_trtr_ratio").note == note
    assert section.details["families"]["boosting"]["trtr"]["caveat"] is None
