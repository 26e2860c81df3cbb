"""A report on what real tables throw at it: repeated rows, rare and one-sided classes, near-unique text.

* Detection keeps identical rows in one fold, so a copy of the real table (CDNOW's first
  20,000 rows repeat a lot) and two halves of one real table score 0.5 within their
  interval, where plain stratified folds put the copy at 0.452.
* A multi-class target whose synthetic table holds a class once, lacks one and invents
  one, beside a near-unique text column, gives a full report with notes saying how each
  case was handled, in-process and through ``tabsynth report --target``.
* A section that fails is reported as not computed, with the reason, and the rest of
  the report is still written.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape

from tabsynth.evaluation import detection as detection_module
from tabsynth.evaluation import evaluate, fidelity, privacy
from tabsynth.evaluation.detection import detection
from tabsynth.evaluation.figures import utility as utility_figures
from tabsynth.evaluation.tables import EvaluationTables

TARGET = "EDUCATION"
TEXT = "remark"
NEW_REMARKS = 300  # synthetic rows whose remark the real table never had
EARLY_STOPPING = "a class needs two rows for the model's stratified early-stopping split"
NOTES = [
    "Class 7 of 'EDUCATION' occurs only in the synthetic table (1 row); no real row has it, so the scores "
    "leave its predicted probability out.",
    "Class 0 of 'EDUCATION' never occurs in the synthetic table, so the models trained on it never predict it.",
    "Class 0 of 'EDUCATION' has no row in the holdout, so no score covers it.",
    "Gradient boosting was trained on the synthetic table without the single rows of classes 6, 7 of "
    f"'EDUCATION': {EARLY_STOPPING} (the linear model keeps the rows).",
    "Gradient boosting was trained on the real table without the single row of class 0 of 'EDUCATION': "
    f"{EARLY_STOPPING} (the linear model keeps the row).",
]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tabsynth.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=600)


def _halves(frame: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(seed).permutation(len(frame))
    half = len(frame) // 2
    return frame.iloc[order[:half]].reset_index(drop=True), frame.iloc[order[half:]].reset_index(drop=True)


# ---------------------------------------------------------------------------- detection and repeated rows
@pytest.fixture(scope="module")
def cdnow_head(cdnow):
    return cdnow.head(20_000).reset_index(drop=True)


def _detect(real, synthetic):
    tables = EvaluationTables.prepare(real, synthetic)
    return detection(tables, tables.real, tables.synthetic, max_rows=20_000, random_state=0)


def test_copy_of_cdnow_scores_chance_within_its_interval(cdnow_head):
    found = _detect(cdnow_head, cdnow_head.copy())
    low, high = found["auc_ci"]
    assert low <= 0.5 <= high and low <= found["auc"] <= high
    assert 0.48 < found["auc"] < 0.52 and high - low < 0.05
    assert found["rows_per_table"] == 10_000 and found["folds"] == 5 and len(found["fold_aucs"]) == 5
    # Most sampled rows share their (date, CDs, dollars) with another row: what plain folds trip on.
    assert found["repeated_rows"] > 10_000 and found["distinct_rows"] < 15_000
    assert found["interval"].startswith("95% corrected resampled t interval over the 5 grouped folds")


def test_plain_folds_put_the_cdnow_copy_below_chance(cdnow_head, monkeypatch):
    # Every row its own group is plain stratified folds: the copy then scores below its ideal.
    monkeypatch.setattr(detection_module, "identical_row_groups", lambda X: np.arange(len(X)))
    found = _detect(cdnow_head, cdnow_head.copy())
    assert found["auc"] < 0.47 and found["auc_ci"][1] < 0.5


@pytest.mark.parametrize("name", ["credit", "adult_train"])
def test_two_halves_of_one_real_table_score_chance(name, request):
    first, second = _halves(request.getfixturevalue(name))
    found = _detect(first, second)
    low, high = found["auc_ci"]
    assert low <= 0.5 <= high and high - low < 0.06


def test_cli_report_on_a_cdnow_copy_shows_the_interval(cdnow_head, tmp_path):
    real, copy = tmp_path / "cdnow.csv", tmp_path / "copy.csv"
    cdnow_head.to_csv(real, index=False)
    cdnow_head.to_csv(copy, index=False)
    done = _cli("report", "--real", real, "--synthetic", copy, "--no-anonymeter", "-o", tmp_path / "r.html",
                "--json", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    payload = json.loads((tmp_path / "r.json").read_text())
    metric = next(m for m in payload["sections"]["fidelity"]["metrics"] if m["key"] == "fidelity.detection_auc")
    low, high = metric["ci"]
    assert low <= 0.5 <= high and low <= metric["value"] <= high
    assert payload["sections"]["fidelity"]["details"]["detection"]["auc_ci"] == [low, high]
    assert f"{low:.3f} – {high:.3f}" in (tmp_path / "r.html").read_text()


# ---------------------------------------------------------------------------- rare classes, near-unique text
@pytest.fixture(scope="module")
def tables(credit):
    """Credit rows (train 3,000, holdout 1,500) and a synthetic table built from the training rows.

    EDUCATION has 7 classes; 0, 4, 5 and 6 are each under 1% of the training rows (0 has a
    single row, and none in the holdout). The synthetic rows are the training rows
    shuffled, with class 6 held exactly once, class 0 gone and one row of an invented
    class 7. ``remark`` is a near-unique text column (2,983 values in 3,000 rows), and
    300 synthetic rows get a remark the real table never had.
    """
    order = np.random.default_rng(0).permutation(len(credit))
    train, holdout = (credit.iloc[rows].reset_index(drop=True) for rows in (order[:3000], order[3000:4500]))
    for frame, tag in ((train, "t"), (holdout, "h")):
        frame[TEXT] = [f"{m}" if i < 20 else f"{m}-{tag}{i}" for i, m in enumerate(frame["MARRIAGE"])]
    synthetic = train.sample(frac=1.0, random_state=1).reset_index(drop=True)
    six = np.flatnonzero(synthetic[TARGET] == 6)
    changed = set(six[1:]) | set(np.flatnonzero(synthetic[TARGET] == 0)) | {0}
    synthetic.loc[six[1:], TARGET] = 2
    synthetic.loc[synthetic[TARGET] == 0, TARGET] = 2
    synthetic.loc[0, TARGET] = 7
    renamed = np.arange(len(synthetic) - NEW_REMARKS, len(synthetic))
    synthetic.loc[renamed, TEXT] = [f"new-{i}" for i in renamed]
    copies = 1 - len(changed | set(renamed)) / len(synthetic)  # share of synthetic rows left as training rows
    return {"train": train, "holdout": holdout, "synthetic": synthetic, "copies": copies}


@pytest.fixture(scope="module")
def report(tables):
    return evaluate(tables["train"], tables["synthetic"], tables["holdout"], target=TARGET, max_rows=3000,
                    privacy_rows=500, anonymeter=False, on_error="raise")


def test_the_tables_hold_the_cases(tables):
    train, synthetic = tables["train"], tables["synthetic"]
    assert train[TARGET].value_counts().to_dict() == {2: 1388, 1: 1076, 3: 493, 5: 29, 4: 11, 6: 2, 0: 1}
    assert set(tables["holdout"][TARGET]) == {1, 2, 3, 4, 5, 6}
    assert synthetic[TARGET].value_counts()[[6, 7]].tolist() == [1, 1] and 0 not in set(synthetic[TARGET])
    assert train[TEXT].nunique() == 2983
    prepared = EvaluationTables.prepare(train, synthetic, tables["holdout"], target=TARGET)
    assert prepared.metadata[TEXT].kind == "categorical" and prepared.wide_categorical == [TEXT]


def test_utility_has_figures_and_says_how_each_class_was_handled(report):
    section = report.sections["utility"]
    assert section.status == "computed" and section.notes == NOTES
    for mode, note in (("tstr", NOTES[3]), ("trtr", NOTES[4])):
        for name in ("auc", "accuracy", "f1"):
            boosting = report.metric(f"utility.{mode}_boosting_{name}")
            assert 0.2 < boosting.value < 0.9 and boosting.note == note
            assert report.metric(f"utility.{mode}_linear_{name}").note is None
    assert 0.55 < report.metric("utility.tstr_boosting_auc").value < 0.8
    ratio = report.metric("utility.tstr_trtr_ratio")
    assert 0.8 < ratio.value < 1.2 and ratio.note == f"{NOTES[3]} {NOTES[4]}"
    assert section.details["families"]["boosting"]["tstr"]["caveat"] == NOTES[3]
    assert len(utility_figures.figures(section, report.evaluation_tables)) == 2


def test_other_sections_survive_the_near_unique_column(report, tables):
    assert [s.status for s in report.sections.values()] == ["computed"] * 3
    assert report.metric("privacy.exact_copies").value == pytest.approx(tables["copies"])
    assert 0.5 < report.metric("privacy.dcr_share").value <= 1.0
    pair = next(p for p in report.sections["fidelity"].details["pairs"] if p["columns"] == ["MARRIAGE", TEXT])
    assert 0.85 < pair["score"] < 1.0 and pair["real"] == pytest.approx(1.0)  # a remark names its MARRIAGE
    detection_auc = report.metric("fidelity.detection_auc")
    assert detection_auc.ci[0] <= detection_auc.value <= detection_auc.ci[1]
    assert detection_auc.value > 0.5  # 300 synthetic remarks are new


def test_json_and_html_carry_the_notes(report):
    payload = json.loads(report.to_json())
    assert payload["sections"]["utility"]["notes"] == NOTES
    assert payload["sections"]["fidelity"]["notes"] == []
    page = report.to_html()
    for note in NOTES:
        assert escape(note) in page


def test_cli_report_with_a_multiclass_target_writes_the_report(tables, tmp_path):
    paths = {name: tmp_path / f"{name}.csv" for name in ("train", "synthetic", "holdout")}
    for name, path in paths.items():
        tables[name].to_csv(path, index=False)
    done = _cli("report", "--real", paths["train"], "--synthetic", paths["synthetic"], "--holdout", paths["holdout"],
                "--target", TARGET, "--no-anonymeter", "-o", tmp_path / "r.html", "--json", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    payload = json.loads((tmp_path / "r.json").read_text())
    assert [payload["sections"][s]["status"] for s in ("fidelity", "utility", "privacy")] == ["computed"] * 3
    assert payload["sections"]["utility"]["notes"] == NOTES
    assert escape(NOTES[3]) in (tmp_path / "r.html").read_text()


# ---------------------------------------------------------------------------- a failing section
@pytest.fixture(scope="module")
def small(shoppers):
    table = shoppers.sample(900, random_state=0).reset_index(drop=True)
    return table.iloc[:600].reset_index(drop=True), table.iloc[600:].reset_index(drop=True)


def _small_report(small, **options):
    train, holdout = small
    return evaluate(train, train.sample(frac=1.0, random_state=2), holdout, target="Revenue", max_rows=600,
                    privacy_rows=200, anonymeter=False, **options)


def _broken(message):
    def run(*args, **kwargs):
        raise RuntimeError(message)
    return run


def test_a_failing_section_is_reported_and_the_rest_is_written(small, monkeypatch):
    monkeypatch.setattr(privacy, "privacy_section", _broken("no distances today"))
    with pytest.warns(RuntimeWarning, match=r"^The privacy section could not be computed"):
        report = _small_report(small)
    reason = "The privacy section could not be computed (RuntimeError: no distances today)."
    section = report.sections["privacy"]
    assert (section.status, section.skipped_reason, section.metrics) == ("skipped", reason, [])
    assert section.details["error"]["type"] == "RuntimeError"
    assert "no distances today" in section.details["error"]["traceback"]
    assert report.verdicts["privacy"] == "not computed"
    assert report.sections["utility"].status == "computed" and report.metric("fidelity.column_shapes").value > 0.9
    assert json.loads(report.to_json())["sections"]["privacy"]["reason"] == reason
    assert escape(reason) in report.to_html()
    assert report.failures(over={"privacy.dcr_share": 0.6}) == [f"privacy.dcr_share was not computed ({reason})"]
    monkeypatch.setattr(fidelity, "fidelity_section", _broken("no shapes today"))  # the first section: fails fast
    with pytest.raises(RuntimeError, match="^no shapes today$"):
        _small_report(small, on_error="raise")


def test_a_datetime_target_skips_utility_only(small):
    train, holdout = (frame.copy() for frame in small)
    for frame in (train, holdout):
        frame["visited"] = pd.Timestamp("2017-01-01") + pd.to_timedelta(frame["ProductRelated"], unit="D")
    report = evaluate(train, train, holdout, target="visited", max_rows=600, privacy_rows=200, anonymeter=False)
    assert report.sections["utility"].skipped_reason.startswith(
        "The utility section could not be computed: Target 'visited' is a datetime column;")
    assert report.sections["fidelity"].status == report.sections["privacy"].status == "computed"


def test_a_plot_that_fails_leaves_the_page_and_says_why(report, monkeypatch):
    monkeypatch.setattr(utility_figures, "figures", _broken("no ink"))
    with pytest.warns(RuntimeWarning, match="could not be drawn"):
        page = report.to_html()
    assert "The plots of this section could not be drawn (RuntimeError: no ink)." in page
    assert page.count("data:image/png;base64,") >= 3  # fidelity and privacy plots are still there


def test_bad_arguments_are_refused_before_any_work(small):
    with pytest.raises(ValueError, match=r"^max_rows must be at least 2 \(rows per table for fidelity and "
                                         r"utility\), got 1\.$"):
        evaluate(*small, max_rows=1)
    with pytest.raises(ValueError, match=r"^on_error must be 'report' or 'raise', got 'ignore'\.$"):
        evaluate(*small, on_error="ignore")
