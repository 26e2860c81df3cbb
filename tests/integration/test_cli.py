"""The command line end to end, as a user runs it (a subprocess per command)."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

import tabsynth as ts


def run(*args, cwd=None):
    """Run `tabsynth ARGS` with this interpreter; return the completed process."""
    return subprocess.run([sys.executable, "-m", "tabsynth.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def shoppers_csv(tmp_path_factory, shoppers):
    path = tmp_path_factory.mktemp("data") / "shoppers.csv"
    shoppers.sample(2000, random_state=0).to_csv(path, index=False)
    return path


def test_fit_then_sample_with_conditions(shoppers_csv, tmp_path):
    model_dir = tmp_path / "model"
    fitted = run("fit", shoppers_csv, "-o", model_dir, "--model", "tvae", "--epochs", "2", "--seed", "0",
                 "--device", "cpu", "--quiet")
    assert fitted.returncode == 0, fitted.stderr
    assert "Fitted TVAE on 2,000 rows x 18 columns" in fitted.stdout
    out = tmp_path / "synth.parquet"
    sampled = run("sample", model_dir, "-n", "300", "-o", out, "--condition", "Revenue=True",
                  "--condition", "VisitorType=New_Visitor", "--seed", "1")
    assert sampled.returncode == 0, sampled.stderr
    synth = ts.read_table(out)
    assert len(synth) == 300 and synth["Revenue"].all() and (synth["VisitorType"] == "New_Visitor").all()
    assert list(synth.columns) == list(pd.read_csv(shoppers_csv, nrows=1).columns)
    # Same seed, same rows, in CSV this time.
    again = tmp_path / "again.csv"
    assert run("sample", model_dir, "-n", "300", "-o", again, "--condition", "Revenue=True",
               "--condition", "VisitorType=New_Visitor", "--seed", "1").returncode == 0
    pd.testing.assert_frame_equal(ts.read_table(again), synth, check_dtype=False)


def test_metadata_file_round_trip_through_fit(shoppers_csv, tmp_path):
    meta_path = tmp_path / "meta.json"
    assert run("metadata", shoppers_csv, "-o", meta_path).returncode == 0
    payload = json.loads(meta_path.read_text())
    kinds = {c["name"]: c["kind"] for c in payload["columns"]}
    assert kinds["Revenue"] == "categorical" and kinds["PageValues"] == "numerical"
    for column in payload["columns"]:
        if column["name"] == "Region":
            column["kind"] = "bogus"
    meta_path.write_text(json.dumps(payload))
    result = run("fit", shoppers_csv, "-o", tmp_path / "m", "--epochs", "1", "--metadata", meta_path, "--quiet")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: Metadata file '{meta_path}': Column 'Region': unknown kind 'bogus'; "
        "use one of numerical, categorical, datetime, id, key, constant."
    )
    assert "Traceback" not in result.stderr


def test_errors_are_one_line_without_traceback(shoppers_csv, tmp_path):
    missing = run("fit", tmp_path / "nope.csv", "-o", tmp_path / "m")
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"Error: Input file '{tmp_path / 'nope.csv'}' does not exist."

    overwrite = run("fit", shoppers_csv, "-o", shoppers_csv)
    assert overwrite.returncode == 1
    assert "is the input file" in overwrite.stderr and "Traceback" not in overwrite.stderr
    assert shoppers_csv.stat().st_size > 0

    no_model = run("sample", tmp_path / "no-model", "-n", "5", "-o", tmp_path / "x.csv")
    assert no_model.returncode == 1
    assert no_model.stderr.strip() == f"Error: Model directory '{tmp_path / 'no-model'}' does not exist."

    bad_format = run("sample", tmp_path / "no-model", "-n", "5", "-o", tmp_path / "x.txt")
    assert bad_format.returncode == 1

    usage = run("sample")
    assert usage.returncode == 2

    debug = run("--debug", "fit", tmp_path / "nope.csv", "-o", tmp_path / "m")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_bad_condition_is_reported(shoppers_csv, tmp_path):
    model_dir = tmp_path / "model"
    assert run("fit", shoppers_csv, "-o", model_dir, "--model", "ctgan", "--epochs", "1", "--quiet").returncode == 0
    result = run("sample", model_dir, "-n", "5", "-o", tmp_path / "s.csv", "--condition", "VisitorType=Robot")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: Value 'Robot' is not a category of column 'VisitorType'; allowed values: "
        "['Returning_Visitor', 'New_Visitor', 'Other']."
    )
    malformed = run("sample", model_dir, "-n", "5", "-o", tmp_path / "s.csv", "--condition", "Revenue")
    assert malformed.stderr.strip() == ("Error: --condition 'Revenue' must look like COLUMN=VALUE, COLUMN=LOW..HIGH "
                                       "or COLUMN=null.")


def test_demo_runs_on_bundled_data(tmp_path):
    result = run("demo", "--epochs", "1", "--output-dir", tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    assert "Real vs synthetic" in result.stdout and "Report headline" in result.stdout
    synth = ts.read_table(tmp_path / "demo" / "online_shoppers_synthetic.csv")
    assert len(synth) == 9864 and synth.shape[1] == 18  # trained on 80% of 12,330 rows
    assert (tmp_path / "demo" / "model" / "model.pt").is_file()
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert report["schema"] == "tabsynth.report/1" and report["tables"]["holdout_rows"] == 2466
    assert (tmp_path / "demo" / "report.html").stat().st_size > 10_000


def test_conditions_mirror_the_python_api(shoppers, tmp_path):
    """A repeated --condition on one categorical column is a list of allowed values, COL=null asks
    for nulls, a range is LOW..HIGH; a numerical column given twice is refused."""
    table = shoppers.sample(2000, random_state=1).reset_index(drop=True)
    table["Region"] = table["Region"].astype("Int64").mask(table.index % 5 == 0)  # 20% nulls
    source = tmp_path / "shoppers_with_nulls.csv"
    table.to_csv(source, index=False)
    model_dir = tmp_path / "model"
    assert run("fit", source, "-o", model_dir, "--epochs", "2", "--seed", "0", "--quiet").returncode == 0
    out = tmp_path / "synth.csv"
    sampled = run("sample", model_dir, "-n", "300", "-o", out, "--seed", "0", "--condition", "Month=Nov",
                  "--condition", "Month=Dec", "--condition", "Region=null", "--condition", "PageValues=0..10")
    assert sampled.returncode == 0, sampled.stderr
    synth = ts.read_table(out)
    assert set(synth["Month"]) == {"Nov", "Dec"}
    assert synth["Region"].isna().all() and synth["PageValues"].between(0, 10).all()
    twice = run("sample", model_dir, "-n", "5", "-o", out, "--condition", "PageValues=1",
                "--condition", "PageValues=2")
    assert twice.returncode == 1
    assert twice.stderr.strip() == ("Error: --condition gives column 'PageValues' twice; a numerical column takes "
                                    "one value or one LOW..HIGH range (repeat --condition only for categories).")


def test_every_command_defaults_to_the_same_device():
    import inspect

    from tabsynth import cli

    defaults = {name: inspect.signature(getattr(cli, name)).parameters["device"].default.default
                for name in ("fit", "sample", "impute")}
    assert defaults == {"fit": "auto", "sample": "auto", "impute": "auto"}
    assert [m.value for m in cli.ModelName] == list(ts.models.MODELS) == ["autoregressive", "ctgan", "tvae"]


def test_a_kind_changed_in_the_metadata_file_still_clips_and_rounds(shoppers, tmp_path):
    """The README's workflow: `tabsynth metadata`, make TrafficType numerical in the JSON, `fit
    --metadata`: the bounds and decimals the edit left out come from the training table (with a
    one-line warning), so synthetic values stay integers within the real range."""
    source = tmp_path / "shoppers.csv"
    shoppers.to_csv(source, index=False)
    meta_path = tmp_path / "meta.json"
    assert run("metadata", source, "-o", meta_path).returncode == 0
    payload = json.loads(meta_path.read_text())
    for column in payload["columns"]:
        if column["name"] == "TrafficType":
            column["kind"] = "numerical"
    meta_path.write_text(json.dumps(payload))
    fitted = run("fit", source, "-o", tmp_path / "model", "--model", "tvae", "--epochs", "1", "--seed", "0",
                 "--metadata", meta_path, "--quiet")
    assert fitted.returncode == 0, fitted.stderr
    assert fitted.stderr.strip() == ("Warning: Column 'TrafficType': minimum, maximum taken from the training table "
                                     "(the metadata gives none for a numerical column).")
    out = tmp_path / "synth.csv"
    assert run("sample", tmp_path / "model", "-n", "2000", "-o", out, "--seed", "0").returncode == 0
    traffic = ts.read_table(out)["TrafficType"]
    assert traffic.between(1, 20).all() and (traffic == traffic.round()).all()
