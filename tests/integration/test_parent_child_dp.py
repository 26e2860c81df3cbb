"""Differentially private parent-child fits: the parent (with all its children) is the privacy
unit, on one ledger for every inner model; and the person-level clipping that makes it so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import tabsynth as ts
from tabsynth.cli import app
from tabsynth.privacy.accounting import staged_configs
from tabsynth.privacy.units import PrivacyUnits
from tabsynth.relational.data import credit_statements

ROOT = Path(__file__).resolve().parents[2]
CREDIT = ROOT / "sample_data" / "credit_default.csv.gz"
FAST = {"epochs": 2, "batch_size": 256}


@pytest.fixture(scope="module")
def cdnow(cdnow_customers):
    return cdnow_customers(2_000, seed=1)


@pytest.fixture(scope="module")
def dp_model(cdnow):
    return ts.ParentChild(key="customer_id", order_by="date", random_state=0, model_params=FAST, verbose=False,
                          dp=ts.DPConfig(epsilon=4.0, delta=1e-5), max_children=5).fit(cdnow)


def test_one_ledger_covers_every_model_and_meets_the_target(dp_model):
    ledger = dp_model.privacy_
    assert ledger["epsilon"] <= 4.0 + 1e-6 and ledger["epsilon"] >= 0.99 * 4.0
    assert ledger["delta"] <= 1e-5 * (1 + 1e-9)
    assert ledger["neighbouring"] == "add or remove one parent with all its children"
    parts = {m["part"] for m in ledger["mechanisms"]}
    assert parts == {"parent", "child.children"}
    assert sum(m["name"] == "DP-SGD" for m in ledger["mechanisms"]) == 2
    # The child model's DP-SGD samples parents, not transaction lines.
    child_sgd = next(m for m in ledger["mechanisms"] if m["name"] == "DP-SGD" and m["part"] == "child.children")
    child = dp_model.child_models_["children"]
    assert child.privacy_["neighbouring"].startswith("add or remove one person")
    assert child_sgd["sample_rate"] == pytest.approx(child.batch_size / 2_000)
    assert dp_model.history_ == {"children": 1}  # "auto" may not read the data under DP
    # Fine tokens come from the released bins (every carried number with a released bin has
    # one; which have bins depends on the noise).
    carried = ["number_of_cds", "dollar_value", "__gap__", "__lag1__.number_of_cds", "__lag1__.dollar_value",
               "__lag1__.__gap__"]
    binned = {c for c in carried if c in child.encoder_.tokenizers_ and len(child.encoder_.tokenizers_[c].knots_)}
    assert "dollar_value" in binned
    assert {c[: -len("#fine")] for c in child.encoder_.token_columns_ if c.endswith("#fine")} == binned


def test_fine_tokens_cost_no_budget(cdnow, dp_model):
    """The same DP fit without fine tokens calibrates the same noise to the same total."""
    plain = ts.ParentChild(key="customer_id", order_by="date", random_state=0, model_params=FAST, verbose=False,
                           dp=ts.DPConfig(epsilon=4.0, delta=1e-5), max_children=5, fine_bins=1).fit(cdnow)
    assert not any(c.endswith("#fine") for c in plain.child_models_["children"].encoder_.token_columns_)

    def noise(ledger):  # which mechanisms run depends on the noise; their calibrated noise does not
        return {(m["part"], m["name"] == "DP-SGD", round(m["noise_std"], 9)) for m in ledger["mechanisms"]}

    assert noise(plain.privacy_) == noise(dp_model.privacy_)
    for ledger in (plain.privacy_, dp_model.privacy_):  # (the total moves with which ones ran, below the target)
        assert 0.99 * 4.0 <= ledger["epsilon"] <= 4.0 + 1e-6


def test_dp_samples_link_keys_respect_the_cap_and_order(dp_model, tmp_path):
    parents, children = dp_model.sample(300, random_state=2)
    assert parents["customer_id"].is_unique and parents["customer_id"].str.startswith("syn-").all()
    assert set(children["customer_id"]) <= set(parents["customer_id"])
    assert children.groupby("customer_id").size().max() <= 5
    dates = children.groupby("customer_id", sort=False)["date"].apply(lambda s: s.is_monotonic_increasing)
    assert dates.all()
    dp_model.save(tmp_path / "m")
    assert (tmp_path / "m" / "privacy.json").exists()
    loaded = ts.load(tmp_path / "m")
    assert loaded.privacy_ == dp_model.privacy_
    again, _ = loaded.sample(50, random_state=3)
    same, _ = dp_model.sample(50, random_state=3)
    assert again.equals(same)


def test_dp_wide_panel_is_one_parent_model_on_the_whole_budget():
    customers, statements = credit_statements(ts.read_table(CREDIT))
    keep = customers["ID"].iloc[:1_500]
    customers, statements = customers[customers["ID"].isin(keep)], statements[statements["ID"].isin(keep)]
    config = ts.DPConfig(epsilon=4.0, delta=1e-5)
    # Under DP the width must be the public max_children, never the data's longest panel.
    with pytest.raises(ValueError, match=r"layout='wide' for child table 'children' under dp needs max_children="):
        ts.ParentChild(key="ID", order_by="month", layout="wide", dp=config).fit(statements, parents=customers)
    model = ts.ParentChild(key="ID", order_by="month", layout="wide", max_children=6, random_state=0,
                           model_params=FAST, verbose=False, dp=config).fit(statements, parents=customers)
    assert model.layouts_ == {"children": "wide"} and model.widths_ == {"children": 6} and model.child_models_ == {}
    # The wide columns' schema reads nothing from the data: each position nullable, the child column's kind.
    wide = [m for m in model.parent_model_.metadata_ if m.name.startswith("__at")]
    assert len(wide) == 6 * 3 + 5 and all(m.nullable for m in wide)
    assert {m.kind for m in wide if m.name.endswith(".bill_amount")} == {"numerical"}
    ledger = model.privacy_
    assert {m["part"] for m in ledger["mechanisms"]} == {"parent"}
    assert 0.99 * 4.0 <= ledger["epsilon"] <= 4.0 + 1e-6
    # One row of the parent model holds a parent with all its children: its rows are the privacy unit.
    assert ledger["neighbouring"] == "add or remove one parent with all its children"
    parents, children = model.sample(200, random_state=0)
    assert parents["ID"].str.startswith("syn-").all() and set(children["ID"]) <= set(parents["ID"])
    assert children.groupby("ID").size().max() <= 6
    assert children.groupby("ID", sort=False)["month"].apply(lambda s: s.is_monotonic_increasing).all()


def test_staged_configs_add_up_to_the_target():
    config = ts.DPConfig(epsilon=2.0, delta=1e-6)
    stages = staged_configs(config, 3)
    assert stages[-1].epsilon == 2.0
    assert all(s.accountant_delta == pytest.approx(config.accountant_delta) for s in stages)
    assert sum(s.threshold_delta for s in stages) == pytest.approx(config.threshold_delta)
    assert stages[0].epsilon < stages[1].epsilon < stages[2].epsilon


def test_person_level_clipping_bounds_each_persons_gradient():
    """With noise off, one DP-SGD step's update is the clipped sum: a person with many rows
    moves the weights no more than the clipping norm allows one person."""
    from tabsynth.privacy.audit import broken_dp_sgd
    from tabsynth.privacy.dpsgd import DPSGD

    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 1, bias=False)
    x = torch.randn(12, 4) * 10
    ids = np.array([0] * 10 + [1, 2])  # person 0 owns ten rows
    units = PrivacyUnits.from_values(ids, len(ids))
    rows, shares = units.batcher(torch.device("cpu")).rows(torch.tensor([0]))
    assert sorted(rows.tolist()) == list(range(10)) and shares.sum().item() == pytest.approx(1.0)
    with broken_dp_sgd(noise=False):
        engine = DPSGD(layer, torch.optim.SGD(layer.parameters(), lr=1.0), n_rows=units.n_units,
                       expected_batch_size=1, noise_multiplier=1.0, max_grad_norm=1.0,
                       sampling_generator=torch.Generator().manual_seed(0),
                       noise_generator=torch.Generator().manual_seed(0), mode="ghost")
    before = layer.weight.detach().clone()
    batch = x[rows]
    engine.ghost_step(lambda: layer(batch).squeeze(1) ** 2, len(batch), shares)
    moved = float((layer.weight.detach() - before).norm())
    assert 0.1 < moved <= 1.0 + 1e-5  # expected batch 1: the update is the person's clipped sum


def test_privacy_units_refused_without_dp_and_on_other_models(cdnow):
    frame = cdnow[["number_of_cds", "dollar_value"]]
    with pytest.raises(ValueError, match="privacy_units is a DP option"):
        ts.Autoregressive(epochs=1, verbose=False).fit(frame, privacy_units=cdnow["customer_id"])
    with pytest.raises(ValueError, match="no person-level DP"):
        ts.TVAE(epochs=1, verbose=False, dp=ts.DPConfig(epsilon=1.0)).fit(frame, privacy_units=cdnow["customer_id"])
    with pytest.raises(ValueError, match="max_children must be a positive integer or None, got 0"):
        ts.ParentChild(key="customer_id", max_children=0, dp=ts.DPConfig(epsilon=1.0)).fit(cdnow)
    with pytest.raises(ValueError, match="one person id per row"):
        ts.Autoregressive(epochs=1, verbose=False, dp=ts.DPConfig(epsilon=1.0)).fit(
            frame, privacy_units=cdnow["customer_id"].iloc[:10])


def test_cli_epsilon_writes_the_parent_child_ledger(tmp_path):
    customers, statements = credit_statements(ts.read_table(CREDIT))
    keep = customers["ID"].iloc[:1_200]
    ts.write_table(customers[customers["ID"].isin(keep)], tmp_path / "customers.csv")
    ts.write_table(statements[statements["ID"].isin(keep)], tmp_path / "statements.csv")
    result = CliRunner().invoke(app, ["fit", str(tmp_path / "statements.csv"), "--key", "ID", "--order-by", "month",
                                      "--parent", str(tmp_path / "customers.csv"), "--epochs", "1", "--epsilon", "3",
                                      "--delta", "1e-6", "-o", str(tmp_path / "model"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "one parent with all its children" in result.output
    ledger = ts.load(tmp_path / "model").privacy_
    assert ledger["epsilon"] <= 3.0 + 1e-6 and {m["part"] for m in ledger["mechanisms"]} == {"parent",
                                                                                            "child.statements"}
