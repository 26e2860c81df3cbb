"""The models (autoregressive, CTGAN, TVAE) end to end on real tables, with few epochs so the suite stays fast."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

import tabsynth as ts
from tabsynth.models.base import NotFittedError

MODELS = [ts.Autoregressive, ts.CTGAN, ts.TVAE]


def small(cls, **kwargs):
    """A model with a short schedule: enough to exercise every path, not to converge."""
    params = dict(epochs=2, batch_size=500, random_state=0, verbose=False, device="cpu")
    params.update(kwargs)
    return cls(**params)


@pytest.fixture(scope="module")
def shoppers_small(shoppers):
    return shoppers.sample(3000, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="module", params=MODELS, ids=lambda c: c.__name__)
def fitted(request, shoppers, shoppers_small):
    # Metadata from the full table, as a user would infer it: on a 3,000-row subsample some
    # Browser codes are missing and the column would no longer look like codes.
    return small(request.param).fit(shoppers_small, metadata=ts.Metadata.infer(shoppers))


def test_sample_has_exact_schema(fitted, shoppers, shoppers_small):
    synth = fitted.sample(1500)
    assert len(synth) == 1500
    assert list(synth.columns) == list(shoppers_small.columns)
    assert synth.dtypes.to_dict() == shoppers_small.dtypes.to_dict()
    # Values stay inside the bounds and categories of the metadata (inferred on the full table).
    for column in ("ProductRelated_Duration", "BounceRates", "PageValues"):
        assert synth[column].between(shoppers[column].min(), shoppers[column].max()).all()
    assert set(synth["Month"]) <= set(shoppers_small["Month"])
    assert set(synth["Browser"]) <= set(range(1, 14))
    # Integer counts stay integral, floats keep at most the observed decimals.
    assert (synth["Administrative"] == synth["Administrative"].round()).all()
    assert np.allclose(synth["ExitRates"], synth["ExitRates"].round(9))


def test_conditions_are_met_on_every_row(fitted):
    synth = fitted.sample(400, conditions={"Revenue": True, "VisitorType": "New_Visitor"})
    assert len(synth) == 400
    assert synth["Revenue"].all()
    assert (synth["VisitorType"] == "New_Visitor").all()


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_conditions_take_lists_of_categories_and_nulls(cls, shoppers):
    """Every model takes what the CLI passes: a list of allowed categories, and None for nulls of a
    categorical or a numerical column."""
    table = shoppers.sample(3000, random_state=2).reset_index(drop=True)
    table["Region"] = table["Region"].astype("Int64").mask(table.index % 5 == 0)
    table["PageValues"] = table["PageValues"].mask(table.index % 7 == 0)
    model = small(cls, epochs=3).fit(table)
    synth = model.sample(200, conditions={"Month": ["Nov", "Dec"], "Region": None, "PageValues": None},
                         random_state=0)
    assert set(synth["Month"]) == {"Nov", "Dec"}
    assert synth["Region"].isna().all() and synth["PageValues"].isna().all()
    with pytest.raises(ValueError) as info:
        model.sample(5, conditions={"Revenue": None})
    assert str(info.value) == "Condition asks for nulls in column 'Revenue', which has none."


def test_conditions_accept_text_values(fitted):
    synth = fitted.sample(200, conditions={"Revenue": "true", "Region": "3"})
    assert synth["Revenue"].all() and (synth["Region"] == 3).all()


def test_condition_errors_name_column_and_allowed_values(fitted):
    with pytest.raises(ValueError) as info:
        fitted.sample(10, conditions={"VisitorType": "Robot"})
    assert str(info.value) == (
        "Value 'Robot' is not a category of column 'VisitorType'; allowed values: "
        "['Returning_Visitor', 'New_Visitor', 'Other']."
    )
    with pytest.raises(ValueError, match=re.escape("Condition on unknown column 'Revenu'; columns are [")):
        fitted.sample(10, conditions={"Revenu": True})
    if isinstance(fitted, ts.Autoregressive):
        return  # conditions on numbers are allowed there (tests/integration/test_autoregressive.py)
    with pytest.raises(ValueError) as info:
        fitted.sample(10, conditions={"PageValues": 3.0})
    assert str(info.value) == (
        "Condition on column 'PageValues' of kind 'numerical': CTGAN and TVAE condition only on "
        "categorical and boolean columns (and on nulls of any column)."
    )


def test_bad_row_counts(fitted):
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ValueError) as info:
            fitted.sample(bad)
        assert str(info.value) == f"n must be a positive integer number of rows, got {bad!r}."


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_same_seed_gives_same_rows(cls, shoppers_small):
    data = shoppers_small.head(1000)
    first = small(cls, epochs=1, random_state=3).fit(data).sample(300)
    second = small(cls, epochs=1, random_state=3).fit(data).sample(300)
    third = small(cls, epochs=1, random_state=4).fit(data).sample(300)
    pd.testing.assert_frame_equal(first, second)
    assert not first.equals(third)


def test_fit_and_load_leave_global_torch_rng_alone(shoppers_small, tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    small(ts.TVAE, epochs=1).fit(shoppers_small.head(600)).save(tmp_path / "model")
    assert torch.equal(torch.rand(3), expected)
    torch.manual_seed(123)
    ts.load(tmp_path / "model")
    assert torch.equal(torch.rand(3), expected)


def test_sample_random_state_is_reproducible(fitted):
    pd.testing.assert_frame_equal(fitted.sample(200, random_state=9), fitted.sample(200, random_state=9))
    assert not fitted.sample(200).equals(fitted.sample(200))  # the model's own stream advances


def test_save_load_gives_identical_samples(fitted, tmp_path):
    fitted.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "config.json", "encoder.json", "metadata.json", "model.pt"]
    loaded = ts.load(tmp_path / "model")
    assert type(loaded) is type(fitted)
    assert loaded.get_params() == fitted.get_params()
    pd.testing.assert_frame_equal(loaded.sample(300, random_state=1), fitted.sample(300, random_state=1))
    # Without a seed, the loaded model continues the saved sampling stream exactly.
    fitted.save(tmp_path / "again")
    pd.testing.assert_frame_equal(ts.load(tmp_path / "again").sample(100), fitted.sample(100))
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["tabsynth_version"] == ts.__version__ and config["model"] == fitted.name
    assert config["tabsynth_model_directory"] == 1


def test_load_refuses_broken_or_foreign_files(fitted, tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        ts.load(tmp_path / "nothing")
    assert str(info.value) == f"Model directory '{tmp_path / 'nothing'}' does not exist."

    path = tmp_path / "model"
    fitted.save(path)
    (path / "encoder.json").unlink()
    with pytest.raises(FileNotFoundError) as info:
        ts.load(path)
    assert str(info.value) == f"Model directory '{path}' lacks 'encoder.json'; it is not a complete tabsynth model."

    fitted.save(path)
    weights = path / "model.pt"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match=re.escape(f"'{weights}' is truncated or not a tabsynth weights file: ")):
        ts.load(path)

    fitted.save(path)
    config = json.loads((path / "config.json").read_text())
    # Each model class versions its own saved layout (CTGAN 3: the packed critic; TVAE 3: split decoder heads;
    # autoregressive 2: grouped layers).
    assert config["model_format"] == {"ctgan": 3, "tvae": 3, "autoregressive": 2}[fitted.name]
    config["model_format"] = 99
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError) as info:
        ts.load(path)
    readable = {"autoregressive": "formats 2, 3"}.get(fitted.name, f"format {type(fitted).model_format}")
    assert str(info.value) == (
        f"'{path}' was saved by tabsynth {ts.__version__} in {fitted.name} format 99; this tabsynth "
        f"({ts.__version__}) reads {readable}. Re-fit the model with this version."
    )

    fitted.save(path)
    (path / "config.json").write_text('{"format": 1, "model": "CTG')
    with pytest.raises(ValueError, match=re.escape(f"'{path / 'config.json'}' is truncated or not valid JSON: ")):
        ts.load(path)


def test_training_matrix_is_one_row_major_tensor(fitted, shoppers_small):
    """Batches are gathered by row; a column-major matrix made every TVAE epoch 10% slower."""
    data = fitted._encode(shoppers_small)
    assert data.is_contiguous() and data.shape[0] == len(shoppers_small)


def test_model_file_holds_only_tensors(fitted, tmp_path):
    fitted.save(tmp_path / "model")
    tensors = torch.load(tmp_path / "model" / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in tensors.values())


def test_not_fitted_errors():
    with pytest.raises(NotFittedError) as info:
        ts.CTGAN().sample(5)
    assert str(info.value) == "This CTGAN is not fitted yet; call fit(data) or tabsynth.load(path) first."
    with pytest.raises(NotFittedError):
        ts.TVAE().save("never-written")


def test_bad_hyperparameters_and_devices(shoppers_small):
    with pytest.raises(ValueError) as info:
        ts.CTGAN(batch_size=505).fit(shoppers_small)
    assert str(info.value) == "batch_size=505 must be a multiple of pac=10; try batch_size=500."
    with pytest.raises(ValueError) as info:  # one row: no batch statistics for the generator's batch norm
        ts.CTGAN(batch_size=1, pac=1).fit(shoppers_small)
    assert str(info.value) == "CTGAN needs batch_size >= 2 (its generator uses batch normalisation), got 1."
    with pytest.raises(ValueError) as info:
        ts.TVAE(epochs=0).fit(shoppers_small)
    assert str(info.value) == "epochs must be a positive integer, got 0."
    if not torch.cuda.is_available():
        with pytest.raises(ValueError) as info:
            ts.TVAE(device="cuda").fit(shoppers_small)
        assert str(info.value) == "device='cuda' but CUDA is not available here; use device='cpu' or 'auto'."


def test_fit_refuses_empty_and_mismatched_tables(shoppers_small):
    with pytest.raises(ValueError) as info:
        small(ts.TVAE).fit(shoppers_small.iloc[:0])
    assert str(info.value) == "The table is empty (0 rows); give at least one row per column."
    meta = ts.Metadata.infer(shoppers_small)
    with pytest.raises(ValueError) as info:
        small(ts.TVAE).fit(shoppers_small.drop(columns=["Month"]), metadata=meta)
    assert str(info.value) == "The training table lacks column(s) ['Month'] that the metadata describes."


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_nulls_keys_and_datetimes(cls, cdnow):
    """cdnow has a key column (a customer per several transactions) and a date column; nulls are
    injected into a numerical and a categorical column."""
    data = cdnow.sample(3000, random_state=1).reset_index(drop=True)
    rng = np.random.default_rng(0)
    data.loc[rng.random(len(data)) < 0.2, "dollar_value"] = np.nan
    data["channel"] = pd.Series(rng.choice(["web", "phone", None], len(data), p=[0.6, 0.25, 0.15]), dtype="str")
    with pytest.warns(UserWarning) as warned:
        model = small(cls, epochs=15).fit(data)
    assert [str(w.message) for w in warned] == [
        "Column 'customer_id' is a key that several rows share; rows sharing a key are modelled independently "
        "(synthetic rows get fresh keys with the real number of rows per key)."]
    synth = model.sample(3000)
    assert synth.dtypes.to_dict() == data.dtypes.to_dict()
    assert synth["customer_id"].min() > data["customer_id"].max()  # fresh keys never equal a real key
    # The number of rows per key follows the real table's (2,586 keys over 3,000 rows here).
    real_sizes, synth_sizes = data["customer_id"].value_counts(), synth["customer_id"].value_counts()
    assert abs(len(synth_sizes) - len(real_sizes)) < 0.05 * len(real_sizes)
    assert abs(synth_sizes.mean() - real_sizes.mean()) < 0.05 * real_sizes.mean()
    assert synth["date"].between(data["date"].min(), data["date"].max()).all()
    assert (synth["date"] == synth["date"].dt.normalize()).all()  # days stay days
    # Null rates are learned, not dropped or invented: within a wide band of the real ones.
    # CTGAN's band is wider: on these 90 steps its dollar_value null rate ranges over 0.27-0.55
    # with the seed (real 0.2; seeds 0-7), on the code before the span-layout change as well.
    low, high = (0.3, 3.0) if cls is ts.CTGAN else (0.3, 2.5)
    for column, real_rate in (("dollar_value", 0.2), ("channel", 0.15)):
        rate = synth[column].isna().mean()
        assert low * real_rate < rate < high * real_rate, (column, rate)


def test_metadata_override_changes_encoding(shoppers_small, tmp_path):
    meta = ts.Metadata.infer(shoppers_small)
    meta.refit_column("TrafficType", shoppers_small, kind="numerical")
    meta.save(tmp_path / "meta.json")
    model = small(ts.TVAE, epochs=1).fit(shoppers_small, metadata=tmp_path / "meta.json")
    assert {s.role for s in model.encoder_.spans_ if s.column == "TrafficType"} == {"value", "mode"}
    assert model.sample(50)["TrafficType"].dtype == shoppers_small["TrafficType"].dtype


@pytest.mark.slow
@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_default_schedule_learns_shoppers_marginals(cls, shoppers):
    """Default schedule (300 epochs; the flagship until early stopping): category shares within
    0.05, 0.10 for CTGAN (-m slow).

    CTGAN's shares move between seeds: its largest error over these columns, seeds 0-2, was
    0.073-0.077 (Month, 10 categories) with the hand-written gradients of tabsynth 0.1 and
    0.065-0.126 before them, so 0.05 failed on every seed of both.
    """
    tolerance = 0.10 if cls is ts.CTGAN else 0.05
    synth = cls(random_state=0, verbose=False).fit(shoppers).sample(len(shoppers))
    for column in ("VisitorType", "Month", "Revenue"):
        real = shoppers[column].value_counts(normalize=True)
        fake = synth[column].value_counts(normalize=True).reindex(real.index, fill_value=0)
        assert (real - fake).abs().max() < tolerance, column


def test_checkpoints_are_loadable_models(shoppers_small, tmp_path):
    checkpoint = tmp_path / "ckpt"
    model = small(ts.TVAE, epochs=5).fit(shoppers_small, checkpoint_dir=checkpoint, checkpoint_every=2)
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["epochs_trained"] == 4  # epochs 2 and 4 were checkpointed; the final save is the user's
    assert len(ts.load(checkpoint).sample(20)) == 20
    assert len(model.loss_history_) == 5
    with pytest.raises(ValueError) as info:
        small(ts.TVAE).fit(shoppers_small, checkpoint_every=0)
    assert str(info.value) == "checkpoint_every must be a positive integer, got 0."
