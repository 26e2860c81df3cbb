"""Training precision of CTGAN and TVAE: bfloat16 autocast where the CPU multiplies it natively,
float32 weights, outputs and sampling, float32 always under DP."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tabsynth as ts
from tabsynth.models.training import native_bfloat16, resolve_precision

MODELS = [ts.CTGAN, ts.TVAE]


@pytest.fixture(scope="module")
def table(shoppers):
    return shoppers.sample(3000, random_state=0).reset_index(drop=True)


def first_linear(net: torch.nn.Module) -> torch.nn.Linear:
    return next(m for m in net.modules() if isinstance(m, torch.nn.Linear))


def trained_net(model) -> torch.nn.Module:
    return model.discriminator_ if isinstance(model, ts.CTGAN) else model.decoder_


def sampling_net(model) -> torch.nn.Module:
    return model.sampling_generator_ if isinstance(model, ts.CTGAN) else model.decoder_


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_bfloat16_steps_multiply_in_bfloat16_and_keep_float32_weights_and_rows(cls, table, tmp_path):
    model = cls(epochs=1, batch_size=500, random_state=0, verbose=False, precision="bfloat16")
    seen = []
    original = model._build_networks

    def build_and_spy():
        original()
        first_linear(trained_net(model)).register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))

    model._build_networks = build_and_spy
    model.fit(table)
    assert model.precision_ == "bfloat16" and torch.bfloat16 in seen
    for net in model._networks().values():
        assert all(p.dtype == torch.float32 for p in net.parameters())
    sampled = []
    first_linear(sampling_net(model)).register_forward_hook(lambda module, inputs, output: sampled.append(output.dtype))
    synth = model.sample(2000, random_state=1)
    assert sampled and set(sampled) == {torch.float32} and len(synth) == 2000  # sampling is outside the autocast
    # The rows keep the table's schema and learn its marginals as a float32 fit does.
    reference = cls(epochs=1, batch_size=500, random_state=0, verbose=False, precision="float32").fit(table)
    assert reference.precision_ == "float32"
    for column in ("VisitorType", "Revenue"):
        ours = synth[column].value_counts(normalize=True)
        theirs = reference.sample(2000, random_state=1)[column].value_counts(normalize=True)
        assert ours.index.isin(table[column].unique()).all()
        assert (ours - theirs.reindex(ours.index, fill_value=0)).abs().max() < 0.1, column
    model.save(tmp_path / "m")
    assert ts.load(tmp_path / "m").precision_ == "bfloat16"


def test_auto_takes_bfloat16_only_where_it_is_native_and_never_under_dp(table):
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu, private=False) == ("bfloat16" if native_bfloat16(cpu) else "float32")
    assert resolve_precision("auto", cpu, private=True) == "float32"
    assert resolve_precision("float32", cpu, private=False) == "float32"
    model = ts.TVAE(epochs=1, random_state=0, verbose=False, dp=ts.DPConfig(epsilon=2.0)).fit(table.head(2000))
    assert model.precision_ == "float32"
    with pytest.raises(ValueError, match="not available with dp"):
        ts.CTGAN(precision="bfloat16", dp=ts.DPConfig(epsilon=1.0)).fit(table)
    with pytest.raises(ValueError, match="precision must be one of"):
        ts.TVAE(precision="half").fit(table)


def test_autoregressive_files_before_the_field_load_as_float32(table, tmp_path):
    model = ts.Autoregressive(epochs=1, random_state=0, verbose=False).fit(table.head(1000))
    assert model.precision_ == "float32"
    model.save(tmp_path / "ar")
    config = tmp_path / "ar" / "config.json"
    text = config.read_text()
    assert '"training_precision": "float32"' in text
    config.write_text(text.replace('"training_precision": "float32",', ""))  # a file written before the field
    loaded = ts.load(tmp_path / "ar")
    assert loaded.precision_ == "float32"
    assert np.array_equal(loaded.sample(50, random_state=0).to_numpy(), model.sample(50, random_state=0).to_numpy())
