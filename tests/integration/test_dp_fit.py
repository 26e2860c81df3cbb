"""Differentially private fits end to end on real tables: what is released, what is never read,
the ledger in the model directory, and the command line's --epsilon on every sample table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import tabsynth as ts
from tabsynth.cli import app
from tabsynth.encoding import numerical as numerical_module
from tabsynth.encoding.passthrough import IdEncoder, KeyEncoder
from tabsynth.encoding.token_table import TokenTable
from tabsynth.encoding.tokens import CategoricalTokens, NumericalTokens
from tabsynth.metadata import Metadata
from tabsynth.models.autoregressive.model import Autoregressive

SECRET = "Zzyzx-held-by-one-row"


@pytest.fixture(scope="module")
def adult_with_secrets(adult_train: pd.DataFrame) -> pd.DataFrame:
    """4,000 Adult rows; one row holds a unique native-country and a unique extreme fnlwgt."""
    table = adult_train.sample(4000, random_state=0).reset_index(drop=True).copy()
    table["native-country"] = table["native-country"].astype(object)
    table.loc[17, "native-country"] = SECRET
    table.loc[17, "fnlwgt"] = 2_468_013  # above every real fnlwgt, held by this row alone
    return table


@pytest.fixture(scope="module")
def private_model(adult_with_secrets, tmp_path_factory) -> tuple[Autoregressive, Path]:
    model = ts.Autoregressive(epochs=2, random_state=0, verbose=False, dp=ts.DPConfig(epsilon=1.0, delta=1e-5))
    model.fit(adult_with_secrets)
    path = tmp_path_factory.mktemp("dp") / "adult-dp"
    model.save(path)
    return model, path


def test_model_directory_and_samples_hold_no_rare_category_nor_exact_extremes(private_model, adult_with_secrets,
                                                                             assert_dp_model_leaks_nothing):
    model, path = private_model
    assert_dp_model_leaks_nothing(model, path, adult_with_secrets, SECRET,
                                  ["age", "fnlwgt", "hours-per-week", "capital-loss"])
    assert adult_with_secrets["fnlwgt"].max() == 2_468_013  # one of the extremes looked for


def test_loaded_model_keeps_the_ledger_and_samples_the_same(private_model):
    model, path = private_model
    loaded = ts.load(path)
    assert loaded.privacy_ == json.loads((path / "privacy.json").read_text())
    assert loaded.dp == model.dp
    pd.testing.assert_frame_equal(loaded.sample(500, random_state=3), model.sample(500, random_state=3))


def test_dp_fit_never_runs_a_non_private_estimator_on_real_rows(monkeypatch, shoppers):
    # Metadata.infer (the public schema) reads value counts and exact bounds before dropping
    # them, so the schema is given here as a user's metadata file would give it.
    schema = Metadata([ts.ColumnMetadata(name=c.name, kind=c.kind, dtype=c.dtype, nullable=c.nullable,
                                         categories=[False, True] if c.dtype == "bool" else None,
                                         decimals=0 if c.is_integer and c.kind == "numerical" else None)
                       for c in Metadata.infer(shoppers)])

    def forbidden(name):
        def spy(*args, **kwargs):
            raise AssertionError(f"DP fit called the non-private {name}")
        return spy

    for owner, attribute in [(TokenTable, "fit"), (CategoricalTokens, "fit"), (NumericalTokens, "fit"),
                             (Metadata, "completed_from"), (Metadata, "infer"), (IdEncoder, "fit"),
                             (KeyEncoder, "fit"), (numerical_module, "_fit_mixture"), (Autoregressive, "_split"),
                             (Autoregressive, "_validation_nll"), (Autoregressive, "_nll"),
                             (np, "quantile"), (np, "percentile"), (pd.Series, "value_counts"),
                             (pd.Series, "quantile"), (pd.Series, "min"), (pd.Series, "max")]:
        monkeypatch.setattr(owner, attribute, forbidden(f"{getattr(owner, '__name__', owner)}.{attribute}"))
    model = ts.Autoregressive(epochs=1, random_state=0, verbose=False, dp=ts.DPConfig(epsilon=2.0))
    model.fit(shoppers.head(3000), metadata=schema)
    assert model.privacy_["epsilon"] <= 2.0
    monkeypatch.undo()
    assert len(model.sample(100, random_state=0)) == 100


def test_fresh_ids_do_not_depend_on_the_training_keys(credit):
    table = credit.head(3000).copy()
    table["ID"] = table["ID"] + 10_000_000  # training keys far from 1
    model = ts.Autoregressive(epochs=1, random_state=0, verbose=False, dp=ts.DPConfig(epsilon=3.0))
    model.fit(table)
    assert model.metadata_["ID"].kind == "id"
    ids = model.sample(50, random_state=0)["ID"]
    assert ids.tolist() == list(range(1, 51))


def test_condition_errors_list_only_released_categories(private_model):
    model, _ = private_model
    with pytest.raises(ValueError, match="allowed values") as error:
        model.sample(10, conditions={"native-country": SECRET})
    assert SECRET not in str(error.value).split("allowed values")[1]


# The autoregressive model on 3,000 rows; TVAE and CTGAN (per-example gradients, slower) on 1,500.
CLI_MODELS = {"autoregressive": (3000, []), "tvae": (1500, ["--batch-size", "256"]),
              "ctgan": (1500, ["--batch-size", "256"])}


@pytest.mark.parametrize("model", list(CLI_MODELS))
@pytest.mark.parametrize("table", ["online_shoppers.csv.gz", "credit_default.csv.gz", "adult_train.csv.gz"])
def test_cli_epsilon_end_to_end_on_every_sample_table(repo_root, tmp_path, table, model):
    rows, extra = CLI_MODELS[model]
    source = tmp_path / "part.csv"
    ts.read_table(repo_root / "sample_data" / table).head(rows).to_csv(source, index=False)
    result = CliRunner().invoke(app, ["fit", str(source), "-o", str(tmp_path / "m"), "--model", model,
                                      "--epsilon", "3", "--delta", "1e-5", "--epochs", "1", *extra, "--quiet",
                                      "--seed", "0"])
    assert result.exit_code == 0, result.output
    assert "Differential privacy: epsilon" in result.output and "DP: schema inferred" in result.output
    ledger = json.loads((tmp_path / "m" / "privacy.json").read_text())
    assert 0.99 * 3 <= ledger["epsilon"] <= 3
    result = CliRunner().invoke(app, ["sample", str(tmp_path / "m"), "-n", "200", "-o", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "s.csv")) == 200


def test_cli_bad_dp_arguments_get_clear_errors(repo_root, tmp_path):
    data = str(repo_root / "sample_data" / "online_shoppers.csv.gz")
    for args, message in [(["--epsilon", "0"], "epsilon must be"), (["--epsilon", "1", "--delta", "0.5"],
                                                                    "delta="),
                          (["--epsilon", "inf", "--model", "ctgan"], "epsilon must be")]:
        result = subprocess.run([sys.executable, "-m", "tabsynth.cli", "fit", data, "-o", str(tmp_path / "m"),
                                 "--epochs", "1", *args], capture_output=True, text=True)
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "m").exists()


def test_report_shows_the_ledger_of_a_dp_model_and_says_when_there_is_none(private_model, adult_with_secrets,
                                                                          tmp_path):
    model, path = private_model
    real, synthetic = adult_with_secrets.head(1500), model.sample(1500, random_state=1)
    report = ts.evaluate(real, synthetic, max_rows=1500, privacy_rows=300, anonymeter=False, model=path)
    section = report.sections["differential_privacy"]
    assert section.status == "computed"
    assert report.metric("differential_privacy.epsilon").value == pytest.approx(model.privacy_["epsilon"])
    assert any(note.startswith("DP-SGD") for note in section.notes)
    page = report.to_html()
    assert "Differential privacy" in page and "Total epsilon" in page
    plain = ts.Autoregressive(epochs=1, random_state=0, verbose=False).fit(real)
    report = ts.evaluate(real, synthetic, max_rows=1500, privacy_rows=300, anonymeter=False, model=plain)
    assert report.sections["differential_privacy"].status == "skipped"
    assert "without differential privacy" in report.sections["differential_privacy"].skipped_reason


def test_dp_noise_does_not_come_from_the_saved_seed(shoppers):
    """The seed is saved in config.json: noise drawn from it could be recomputed and subtracted."""
    fits = [ts.Autoregressive(epochs=1, random_state=0, verbose=False, dp=ts.DPConfig(epsilon=2.0)).fit(
        shoppers.head(3000)) for _ in range(2)]
    assert fits[0].seed_ == fits[1].seed_
    assert fits[0].encoder_.state() != fits[1].encoder_.state()  # released bins and counts differ
    weights = [f.network_.output.bias.detach().numpy() for f in fits]
    assert weights[0].shape != weights[1].shape or not np.allclose(weights[0], weights[1])


def test_schema_only_metadata_holds_no_value_and_drives_a_dp_fit(shoppers, tmp_path):
    source = tmp_path / "part.csv"
    shoppers.head(3000).to_csv(source, index=False)
    meta = tmp_path / "public.json"
    done = subprocess.run([sys.executable, "-m", "tabsynth.cli", "metadata", str(source), "-o", str(meta),
                           "--schema-only"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for column in json.loads(meta.read_text())["columns"]:
        assert column["minimum"] is None and column["maximum"] is None and column["value"] is None
        assert column["categories"] in (None, [False, True])
    model = ts.Autoregressive(epochs=1, verbose=False, dp=ts.DPConfig(epsilon=3.0)).fit(shoppers.head(3000),
                                                                                         metadata=meta)
    assert model.privacy_["epsilon"] <= 3.0


def test_a_constant_datetime_column_stays_a_datetime_under_dp_and_saves(credit, tmp_path):
    # The credit statements all start in April 2005: a constant datetime, whose value is a
    # fact of the data. Under DP it keeps its public kind (its range released with noise)
    # rather than becoming a category of Timestamps that JSON cannot hold.
    frame = credit.head(3000).assign(statement=pd.Timestamp("2005-04-01"))
    model = ts.Autoregressive(epochs=1, random_state=0, verbose=False,
                              dp=ts.DPConfig(epsilon=3.0)).fit(frame)
    assert model.metadata_["statement"].kind == "datetime"
    model.save(tmp_path / "model")
    restored = ts.load(tmp_path / "model")
    sample = restored.sample(200, random_state=1)
    assert pd.api.types.is_datetime64_any_dtype(sample["statement"])
    spread = (sample["statement"] - pd.Timestamp("2005-04-01")).abs().max()
    assert spread < pd.Timedelta(days=400)
