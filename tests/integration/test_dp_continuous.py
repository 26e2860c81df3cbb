"""DP TVAE and DP CTGAN end to end on real tables: the continuous view from DP releases only,
what the model directory and samples hold, networks without BatchNorm (the command line's
--epsilon for them is tested with the autoregressive model's, in test_dp_fit.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import tabsynth as ts
from tabsynth.encoding import numerical as numerical_module
from tabsynth.encoding.passthrough import IdEncoder, KeyEncoder
from tabsynth.encoding.table import TableEncoder
from tabsynth.metadata import Metadata
from tabsynth.models.conditional import ConditionalSampler
from tabsynth.privacy import dpsgd

SECRET = "Zzyzx-held-by-one-row"
FAST = {"tvae": {"epochs": 2, "batch_size": 512}, "ctgan": {"epochs": 1, "batch_size": 512}}


@pytest.fixture(scope="module")
def adult_with_secrets(adult_train: pd.DataFrame) -> pd.DataFrame:
    """3,000 Adult rows; one row holds a unique native-country and a unique extreme fnlwgt."""
    table = adult_train.sample(3000, random_state=1).reset_index(drop=True).copy()
    table["native-country"] = table["native-country"].astype(object)
    table.loc[5, "native-country"] = SECRET
    table.loc[5, "fnlwgt"] = 2_468_013  # above every real fnlwgt, held by this row alone
    return table


@pytest.fixture(scope="module", params=["tvae", "ctgan"])
def private_model(request, adult_with_secrets, tmp_path_factory):
    cls = ts.TVAE if request.param == "tvae" else ts.CTGAN
    model = cls(random_state=0, verbose=False, dp=ts.DPConfig(epsilon=1.0, delta=1e-5), **FAST[request.param])
    model.fit(adult_with_secrets)
    path = tmp_path_factory.mktemp("dp") / f"adult-dp-{request.param}"
    model.save(path)
    return model, path


def test_model_directory_and_samples_hold_no_rare_category_nor_exact_extremes(private_model, adult_with_secrets,
                                                                             assert_dp_model_leaks_nothing):
    model, path = private_model
    assert_dp_model_leaks_nothing(model, path, adult_with_secrets, SECRET,
                                  ["age", "fnlwgt", "hours-per-week", "capital-gain"])
    assert 0.99 <= model.privacy_["epsilon"] <= 1.0  # the budget is spent, not overshot


def test_loaded_model_keeps_the_ledger_and_samples_the_same(private_model):
    model, path = private_model
    loaded = ts.load(path)
    assert loaded.privacy_ == json.loads((path / "privacy.json").read_text())
    assert loaded.dp == model.dp
    pd.testing.assert_frame_equal(loaded.sample(500, random_state=3), model.sample(500, random_state=3))


def test_released_modes_cover_the_columns_and_rare_values_map_to_one_slot(private_model, adult_with_secrets):
    model, _ = private_model
    encoder = model.encoder_
    country = encoder.encoders_[model.metadata_.names.index("native-country")]
    assert country.categories[country.unknown_slot_] == "_RARE_" and SECRET not in country.categories
    matrix = encoder.transform(adult_with_secrets)  # a value outside the release encodes (to _RARE_)
    back = encoder.inverse_transform(matrix)
    assert back.loc[5, "native-country"] == "_RARE_"
    # Numbers inside the released range come back within their mode's window.
    age = adult_with_secrets["age"]
    inside = age.between(model.metadata_["age"].minimum, model.metadata_["age"].maximum)
    # 3,000 rows at epsilon 1: the octave of ages 64-127 holds too few rows to cross the
    # partition-selection threshold, so the released range stops below it. Over 200 noise draws
    # of this release (15 columns): median 94.7% of the rows inside, 1st percentile 89.5%,
    # minimum 86.5%; the bound leaves room for the noise, not for a range cut at 39 (56%).
    assert inside.mean() > 0.8
    assert (back["age"][inside] == age[inside]).mean() > 0.98


def test_privatised_networks_hold_no_batch_norm_and_ctgan_packs_one_row(monkeypatch, shoppers):
    wrapped = []
    original = dpsgd.DPSGD.__init__

    def spy(self, module, *args, **kwargs):
        wrapped.append(module)
        original(self, module, *args, **kwargs)

    monkeypatch.setattr(dpsgd.DPSGD, "__init__", spy)
    table = shoppers.head(2000)
    ts.TVAE(epochs=1, random_state=0, verbose=False, dp=ts.DPConfig(epsilon=2.0)).fit(table)
    ctgan = ts.CTGAN(epochs=1, batch_size=256, random_state=0, verbose=False, dp=ts.DPConfig(epsilon=2.0)).fit(table)
    assert len(wrapped) == 2
    for module in wrapped:
        assert not [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert wrapped[1] is ctgan.discriminator_ and ctgan.pac == 1
    # The generator (BatchNorm) is not privatised: it learns from the critic only.
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in ctgan.generator_.modules())
    with pytest.raises(ValueError, match="pac=1"):
        ts.CTGAN(pac=10, dp=ts.DPConfig(epsilon=1.0)).fit(table)


@pytest.mark.parametrize("model", ["tvae", "ctgan"])
def test_dp_fit_never_runs_a_non_private_estimator_on_real_rows(monkeypatch, shoppers, model):
    schema = Metadata([ts.ColumnMetadata(name=c.name, kind=c.kind, dtype=c.dtype, nullable=c.nullable,
                                         categories=[False, True] if c.dtype == "bool" else None,
                                         decimals=0 if c.is_integer and c.kind == "numerical" else None)
                       for c in Metadata.infer(shoppers)])

    def forbidden(name):
        def spy(*args, **kwargs):
            raise AssertionError(f"DP fit called the non-private {name}")
        return spy

    for owner, attribute in [(TableEncoder, "fit"), (numerical_module, "_fit_mixture"),
                             (numerical_module.NumericalEncoder, "fit"), (ConditionalSampler, "_index_rows"),
                             (Metadata, "completed_from"), (Metadata, "infer"), (IdEncoder, "fit"),
                             (KeyEncoder, "fit"), (np, "quantile"), (np, "percentile"),
                             (pd.Series, "value_counts"), (pd.Series, "quantile"), (pd.Series, "min"),
                             (pd.Series, "max")]:
        monkeypatch.setattr(owner, attribute, forbidden(f"{getattr(owner, '__name__', owner)}.{attribute}"))
    cls = ts.TVAE if model == "tvae" else ts.CTGAN
    fitted = cls(epochs=1, batch_size=256, random_state=0, verbose=False, dp=ts.DPConfig(epsilon=2.0))
    fitted.fit(shoppers.head(2000), metadata=schema)
    assert fitted.privacy_["epsilon"] <= 2.0
    monkeypatch.undo()
    assert len(fitted.sample(100, random_state=0)) == 100
