"""`tabsynth report` and `tabsynth.evaluate` end to end on real tables."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import tabsynth as ts
from tabsynth.evaluation import evaluate


def run(*args):
    return subprocess.run([sys.executable, "-m", "tabsynth.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def files(tmp_path_factory, shoppers):
    folder = tmp_path_factory.mktemp("report")
    table = shoppers.sample(2000, random_state=0).reset_index(drop=True)
    train, holdout = table.iloc[:1500].reset_index(drop=True), table.iloc[1500:].reset_index(drop=True)
    rng = np.random.default_rng(0)
    shuffled = train.apply(lambda column: column.sample(frac=1, random_state=int(rng.integers(1e6))).to_numpy())
    paths = {"train": folder / "train.csv", "holdout": folder / "holdout.csv", "shuffled": folder / "shuffled.csv"}
    train.to_csv(paths["train"], index=False)
    holdout.to_csv(paths["holdout"], index=False)
    shuffled.to_csv(paths["shuffled"], index=False)
    return folder, paths


def test_report_writes_html_and_json_and_gates_on_thresholds(files):
    folder, paths = files
    base = ["report", "--real", paths["train"], "--synthetic", paths["shuffled"], "--holdout", paths["holdout"],
            "--target", "Revenue", "--no-anonymeter", "-o", folder / "r.html", "--json", folder / "r.json"]
    passing = run(*base, "--fail-under", "fidelity.column_shapes=0.9")
    assert passing.returncode == 0, passing.stderr
    payload = json.loads((folder / "r.json").read_text())
    assert payload["schema"] == "tabsynth.report/1"
    assert set(payload["sections"]) == {"fidelity", "utility", "privacy"}
    assert (folder / "r.html").read_text().startswith("<!DOCTYPE html>")

    # Shuffled columns keep each column's shape but break the pairs and the utility.
    failing = run(*base, "--fail-under", "fidelity.pair_trends=0.95", "--fail-under", "utility.tstr_trtr_ratio=0.9")
    assert failing.returncode == 3
    broken = [line for line in failing.stderr.splitlines() if line.startswith("Threshold broken")]
    assert len(broken) == 2 and "fidelity.pair_trends = " in broken[0] and "is below the threshold 0.95" in broken[0]

    over = run(*base, "--fail-over", "fidelity.detection_auc=0.55")
    assert over.returncode == 3 and "is above the threshold 0.55" in over.stderr


def test_report_input_errors(files):
    folder, paths = files
    unknown_key = run("report", "--real", paths["train"], "--synthetic", paths["shuffled"], "--no-anonymeter",
                      "-o", folder / "x.html", "--fail-under", "fidelity.shape=0.9")
    assert unknown_key.returncode == 1 and "Error: No metric 'fidelity.shape' in this report; known keys: [" in unknown_key.stderr

    bad_threshold = run("report", "--real", paths["train"], "--synthetic", paths["shuffled"], "-o", folder / "x.html",
                        "--fail-under", "fidelity.column_shapes")
    assert bad_threshold.stderr.strip() == (
        "Error: --fail-under 'fidelity.column_shapes' must look like KEY=NUMBER, e.g. fidelity.column_shapes=0.9.")

    unknown_target = run("report", "--real", paths["train"], "--synthetic", paths["shuffled"], "--target", "Revenu",
                         "-o", folder / "x.html")
    assert unknown_target.returncode == 1
    assert unknown_target.stderr.startswith("Error: Target 'Revenu' is not an evaluated column of the real table;")

    overwrite = run("report", "--real", paths["train"], "--synthetic", paths["shuffled"], "-o", paths["train"])
    assert overwrite.returncode == 1 and "is the input file" in overwrite.stderr


def test_evaluate_refuses_bad_tables(shoppers):
    train = shoppers.head(500)
    with pytest.raises(ValueError) as info:
        evaluate(train, train.drop(columns=["Month", "Region"]))
    assert str(info.value) == "The synthetic table lacks column(s) ['Month', 'Region'] that the metadata describes."
    with pytest.raises(ValueError) as info:
        evaluate(train, train.iloc[:0])
    assert str(info.value) == "The synthetic table is empty (0 rows)."
    bad = train.copy()
    bad["PageValues"] = bad["PageValues"].astype(object)
    bad.loc[3, "PageValues"] = "lots"
    with pytest.raises(ValueError) as info:
        evaluate(train, bad)
    assert str(info.value) == (
        "Column 'PageValues' is numerical but the synthetic table holds non-numeric values such as 'lots'; "
        "the tables must share the real table's kinds."
    )


def test_copy_of_training_data_is_perfect_fidelity_and_maximal_risk(shoppers):
    table = shoppers.sample(1600, random_state=1).reset_index(drop=True)
    train, holdout = table.iloc[:1200].reset_index(drop=True), table.iloc[1200:].reset_index(drop=True)
    report = evaluate(train, train.copy(), holdout, target="Revenue", max_rows=1200, privacy_rows=400,
                      anonymeter=False, metadata=ts.Metadata.infer(shoppers))
    assert report.metric("fidelity.column_shapes").value == pytest.approx(1.0)
    assert report.metric("fidelity.pair_trends").value == pytest.approx(1.0)
    assert report.metric("privacy.exact_copies").value == pytest.approx(1.0)
    assert report.metric("privacy.mia_distance_auc").value > 0.95
    assert report.verdicts["privacy"] == "poor"
    assert report.metric("utility.tstr_trtr_ratio").value == pytest.approx(1.0)
