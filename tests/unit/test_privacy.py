"""Privacy section on the real credit table: a generator that copies its training rows must be
caught, and one that emits new real rows (never seen in training) must look like the baseline."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from tabsynth.evaluation import anonymeter as anonymeter_bridge
from tabsynth.evaluation import tables as tables_module
from tabsynth.evaluation.attacks import (GowerPoints, attack_summary, bootstrap_attack, nearest_gower,
                                         nearest_ratio, roc_points, row_hashes, tie_split_share)
from tabsynth.evaluation.figures import privacy as privacy_figures
from tabsynth.evaluation.privacy import NO_HOLDOUT, _gower_points, privacy_section
from tabsynth.evaluation.tables import EvaluationTables

MAX_ROWS = 800
ATTACKS = ("distance", "domias")


@pytest.fixture(scope="module")
def splits(credit: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Disjoint seeded credit rows: train 3,000, holdout 2,000, and 2,000 'fresh' rows."""
    order = np.random.default_rng(7).permutation(len(credit))
    return {"train": credit.iloc[order[:3000]], "holdout": credit.iloc[order[3000:5000]],
            "fresh": credit.iloc[order[5000:7000]]}


def _section(train, synthetic, holdout, anonymeter=False):
    tables = EvaluationTables.prepare(train, synthetic, holdout)
    return privacy_section(tables, max_rows=MAX_ROWS, anonymeter=anonymeter, random_state=0), tables


@pytest.fixture(scope="module")
def copied(splits):
    """Synthetic = an identical copy of the training rows."""
    return _section(splits["train"], splits["train"], splits["holdout"])[0]


@pytest.fixture(scope="module")
def fresh(splits):
    """Synthetic = real rows the generator never saw (disjoint from train and holdout)."""
    return _section(splits["train"], splits["fresh"], splits["holdout"])


def _value(section, key):
    return section.metric(key).value


def test_copy_of_training_data_is_caught(copied):
    assert _value(copied, "privacy.exact_copies") == 1.0
    assert _value(copied, "privacy.dcr_share") > 0.97
    assert _value(copied, "privacy.dcr_train_median") == 0.0
    assert _value(copied, "privacy.nndr") == 0.0
    assert _value(copied, "privacy.mia_distance_auc") > 0.95
    assert _value(copied, "privacy.mia_distance_tpr_at_fpr_1pct") > 0.9
    assert _value(copied, "privacy.mia_domias_auc") > 0.55
    assert copied.details["verdict"] == "poor"


def test_new_real_rows_look_like_the_baseline(fresh):
    section, _ = fresh
    baseline = _value(section, "privacy.exact_copies_holdout")
    assert abs(_value(section, "privacy.exact_copies") - baseline) <= 0.005
    dcr = section.metric("privacy.dcr_share")
    assert dcr.ideal == pytest.approx(3000 / 5000)
    assert abs(dcr.value - dcr.ideal) <= 0.05
    for attack in ATTACKS:
        assert abs(_value(section, f"privacy.mia_{attack}_auc") - 0.5) <= 0.07, attack
        assert _value(section, f"privacy.mia_{attack}_tpr_at_fpr_1pct") <= 0.06, attack
    nndr = section.metric("privacy.nndr")
    assert abs(nndr.value - nndr.ideal) <= 0.05
    assert section.details["verdict"] in ("good", "fair")


def test_dcr_holdout_baseline_is_what_new_real_rows_score_ties_included(splits, fresh):
    section, _ = fresh
    baseline = section.metric("privacy.dcr_share_holdout")
    assert baseline.ideal == pytest.approx(3000 / 4999)
    assert abs(baseline.value - _value(section, "privacy.dcr_share")) <= 0.05
    # Rows that repeat (four categorical columns of the credit table): ties count half, so new
    # real rows sit well below the ideal share, and the holdout baseline says where.
    columns = ["SEX", "EDUCATION", "MARRIAGE", "default payment next month"]
    repeated, _ = _section(*(splits[name][columns] for name in ("train", "fresh", "holdout")))
    share, baseline = (_value(repeated, key) for key in ("privacy.dcr_share", "privacy.dcr_share_holdout"))
    assert share < 0.55 < repeated.metric("privacy.dcr_share").ideal
    assert abs(share - baseline) <= 0.05


def test_bootstrap_intervals_contain_the_estimate(fresh, copied):
    for section in (fresh[0], copied):
        for m in section.metrics:
            if m.key.startswith("privacy.mia_"):
                assert m.ci[0] <= m.value <= m.ci[1], m.key


def test_attack_samples_are_disjoint_halves_of_the_holdout(fresh):
    attacks = fresh[0].details["attacks"]
    assert attacks["members"] == attacks["non_members"] == MAX_ROWS
    assert attacks["domias_reference_rows"] == min(2000 - MAX_ROWS, MAX_ROWS)
    assert "disjoint halves" in attacks["note"]


def test_details_are_plain_json_with_shared_histogram_bins(fresh):
    section, _ = fresh
    text = json.dumps(section.to_dict())  # no numpy values anywhere
    histogram = json.loads(text)["details"]["dcr"]["histogram"]
    bins = len(histogram["edges"]) - 1
    for key in ("synthetic_to_train", "synthetic_to_holdout", "holdout_to_train"):
        assert len(histogram[key]) == bins
    assert sum(histogram["synthetic_to_train"]) == MAX_ROWS
    roc = section.details["attacks"]["roc"]["distance"]
    assert len(roc["fpr"]) <= 101 and roc["fpr"][-1] == roc["tpr"][-1] == 1.0


def test_without_holdout_the_section_says_what_is_missing(splits):
    tables = EvaluationTables.prepare(splits["train"], splits["fresh"])
    section = privacy_section(tables, max_rows=MAX_ROWS, anonymeter=False, random_state=0)
    assert section.status == "skipped"
    assert section.skipped_reason == ("No holdout table: privacy risk needs real rows the generator never saw "
                                      "as a baseline; pass holdout=.") == NO_HOLDOUT


def test_max_rows_below_one_is_refused(fresh):
    with pytest.raises(ValueError, match=re.escape(
            "max_rows must be at least 1 (got 0); it is the number of rows sampled per table.")):
        privacy_section(fresh[1], max_rows=0, anonymeter=False, random_state=0)


def test_anonymeter_reports_how_to_enable_it_when_interpreter_is_missing(monkeypatch, fresh):
    monkeypatch.setenv("TABSYNTH_REFEREE_PYTHON", "/nonexistent/python")
    metrics, details = anonymeter_bridge.anonymeter_metrics(fresh[1], enabled=True, max_rows=100, random_state=0)
    assert [m.key for m in metrics] == ["privacy.anonymeter_singling_out", "privacy.anonymeter_linkability",
                                        "privacy.anonymeter_inference"]
    for m in metrics:
        assert m.value is None and m.ideal == 0.0
        assert m.note == ("Not run: no referee Python at /nonexistent/python; to enable it, run "
                          "`bash benchmarks/setup_referee.sh` in a tabsynth checkout, or set "
                          "TABSYNTH_REFEREE_PYTHON to a Python with anonymeter installed.")
    assert details == {}


def test_anonymeter_off_is_recorded_without_values(fresh):
    section = fresh[0]
    note = section.metric("privacy.anonymeter_inference").note
    assert section.metric("privacy.anonymeter_inference").value is None
    assert note.startswith("Not run (anonymeter=False); to run it pass anonymeter=True and run "
                           "`bash benchmarks/setup_referee.sh`")


def test_anonymeter_runs_in_the_referee_environment(fresh):
    if anonymeter_bridge.referee_python() is None:
        pytest.skip("No referee Python (bash benchmarks/setup_referee.sh, or set TABSYNTH_REFEREE_PYTHON).")
    metrics, details = anonymeter_bridge.anonymeter_metrics(fresh[1], enabled=True, max_rows=300, random_state=0)
    if metrics[0].value is None and "not importable" in (metrics[0].note or ""):
        pytest.skip(f"The referee environment lacks anonymeter: {metrics[0].note}")
    for m in metrics:
        assert m.value is not None, m.note
        assert 0.0 <= m.ci[0] <= m.value <= m.ci[1] <= 1.0
    assert details["n_attacks"] == anonymeter_bridge.N_ATTACKS


def test_figures_render_histogram_and_roc(fresh):
    drawn = privacy_figures.figures(fresh[0], fresh[1])
    assert [f.title for f in drawn] == ["Distance to closest record", "Membership-inference attacks"]
    assert all(len(f.png_base64) > 1000 for f in drawn)


# ---------------------------------------------------------------------- pure statistics
def _direct_gower(tables, first: pd.DataFrame, second: pd.DataFrame) -> np.ndarray:
    """``(len(first), len(second))`` Gower distances, column by column (categories: equal or not; no nulls)."""
    expected = np.zeros((len(first), len(second)))
    for column in tables.columns:
        a, b = first[column].to_numpy(), second[column].to_numpy()
        if column in tables.categorical:
            same = (a[:, None] == b[None, :]) | (pd.isna(a)[:, None] & pd.isna(b)[None, :])
            expected += ~same
        else:  # scaled by the real range and clipped to it, as the report documents
            low, span = tables.real[column].min(), tables.real[column].max() - tables.real[column].min()
            a, b = (np.clip((v.astype(float) - low) / span, 0.0, 1.0) for v in (a, b))
            expected += np.abs(a[:, None] - b[None, :])
    return expected / len(tables.columns)


@pytest.mark.parametrize("onehot_max_levels", [64, 5])  # 5: most categories compared as codes
def test_nearest_gower_matches_a_direct_gower_computation(adult_train, monkeypatch, onehot_max_levels):
    monkeypatch.setattr(tables_module, "GOWER_ONEHOT_MAX_LEVELS", onehot_max_levels)
    frame = adult_train.iloc[:300]
    tables = EvaluationTables.prepare(frame, frame, frame)
    assert len(tables.wide_categorical) == (0 if onehot_max_levels == 64 else 6)
    points = _gower_points(tables, tables.real)
    query, reference = points.take(np.arange(40)), points.take(np.arange(40, 300))
    expected = _direct_gower(tables, tables.real.iloc[:40], tables.real.iloc[40:])
    found = nearest_gower(query, reference, k=2, chunk_rows=16)
    assert np.allclose(found, np.sort(expected, axis=1)[:, :2], atol=1e-5)


def test_a_near_unique_column_keeps_new_values_apart(adult_train):
    # 200 real rows with 100 remarks (each twice): compared by code, not as 100 one-hot slots.
    frame = adult_train.iloc[:300].reset_index(drop=True)
    frame["remark"] = [f"{o}-{i // 2}" for i, o in enumerate(frame["occupation"])]
    frame = frame[["age", "hours-per-week", "sex", "race", "remark"]]  # every sex and race is in the first 200
    real, synthetic = frame.iloc[:200], frame.iloc[200:].copy()
    synthetic["remark"] = [f"new-{i}" for i in range(len(synthetic))]  # values the real table never had
    tables = EvaluationTables.prepare(real, synthetic, synthetic)
    assert tables.wide_categorical == ["remark"]
    assert _gower_points(tables, tables.real).onehot.shape[1] == (2 + 2) + (5 + 2)  # sex and race one-hots only
    found = nearest_gower(_gower_points(tables, tables.synthetic), _gower_points(tables, tables.real), k=1)
    expected = _direct_gower(tables, tables.synthetic, tables.real).min(axis=1)
    assert np.allclose(found[:, 0], expected, atol=1e-5)
    # Two different new remarks do not match each other (a shared "unseen" slot would make them equal).
    among = nearest_gower(_gower_points(tables, tables.synthetic.iloc[:50]),
                          _gower_points(tables, tables.synthetic.iloc[50:]), k=1)
    assert np.allclose(among[:, 0], _direct_gower(tables, synthetic.iloc[:50], synthetic.iloc[50:]).min(axis=1),
                       atol=1e-5)


def test_row_hashes_treat_nulls_and_signed_zero_as_equal():
    frame = pd.DataFrame({"x": [np.nan, 0.0, -0.0, 1.0], "c": [None, "a", "a", None]})
    hashes = row_hashes(frame)
    assert hashes[1] == hashes[2] and len(set(hashes.tolist())) == 3
    other = pd.DataFrame({"x": [np.nan], "c": pd.Series([np.nan], dtype=object)})
    assert row_hashes(other)[0] == hashes[0]


def test_exact_copies_compare_categories_by_value_not_dtype(splits):
    train = splits["train"]
    synthetic = train.copy()
    synthetic["SEX"] = synthetic["SEX"].astype(float)  # 1.0 is the category 1
    section, _ = _section(train, synthetic, splits["holdout"])
    assert _value(section, "privacy.exact_copies") == 1.0


def test_tie_split_and_ratio_rules():
    assert tie_split_share(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.2, 0.2, 0.1, 0.4])) == pytest.approx(0.5)
    assert nearest_ratio(np.array([0.0, 0.0, 0.1]), np.array([0.0, 0.2, 0.2])).tolist() == [1.0, 0.0, 0.5]


def test_attack_summary_on_perfect_and_useless_scores():
    labels = np.r_[np.ones(500, dtype=bool), np.zeros(500, dtype=bool)]
    assert attack_summary(labels.astype(float), labels).tolist() == [1.0, 1.0, 1.0]
    rng = np.random.default_rng(0)
    noise = rng.normal(size=1000)
    summary = attack_summary(noise, labels)
    low, high = bootstrap_attack(noise, labels, n_resamples=100, random_state=0)[0]
    assert low <= summary[0] <= high and low < 0.5 < high
    fpr, tpr = roc_points(noise, labels)
    assert fpr[0] == 0.0 and fpr[-1] == tpr[-1] == 1.0 and np.all(np.diff(tpr) >= 0)


def test_gower_points_split_keeps_every_column():
    points = GowerPoints(np.zeros((3, 2), np.float32), np.zeros((3, 4), np.float32), 2, 4)
    assert len(points.take(np.array([0, 2]))) == 2


def test_only_near_unique_columns_leave_domias_out_and_say_why(adult_train):
    frame = adult_train.head(1500).reset_index(drop=True)
    names = pd.DataFrame({"name": [f"{o}-{i // 2}" for i, o in enumerate(frame["occupation"])],
                          "city": [f"{c}-{i // 3}" for i, c in enumerate(frame["native-country"])]})
    tables = EvaluationTables.prepare(names.iloc[:1000], names.iloc[:1000], names.iloc[1000:])
    assert tables.wide_categorical == ["name", "city"]
    section = privacy_section(tables, max_rows=300, anonymeter=False, random_state=0)
    note = ("Not computed: DOMIAS estimates densities over the numerical columns and the one-hot encoded "
            "categorical ones, and every column here is a categorical one with too many levels for a one-hot "
            "encoding (more than 64).")
    for key in ("privacy.mia_domias_auc", "privacy.mia_domias_tpr_at_fpr_1pct", "privacy.mia_domias_tpr_at_fpr_0.1pct"):
        assert (section.metric(key).value, section.metric(key).note) == (None, note)
    assert section.metric("privacy.mia_distance_auc").value > 0.95  # the synthetic table copies its training rows
    assert section.metric("privacy.exact_copies").value == 1.0
    assert set(section.details["attacks"]["roc"]) == {"distance"}
