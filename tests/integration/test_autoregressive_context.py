"""The flagship fitted with context: p(other columns | context), context given at every draw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import tabsynth as ts

CONTEXT = ["Revenue", "VisitorType", "Month"]


@pytest.fixture(scope="module")
def conditional_model(shoppers):
    return ts.Autoregressive(epochs=8, random_state=0, verbose=False, device="cpu").fit(shoppers, context=CONTEXT)


def test_context_is_given_never_modelled(conditional_model, shoppers, tmp_path):
    assert conditional_model.context_columns_ == ["Month", "VisitorType", "Revenue"]  # in table order
    targets = [c for c, t in zip(conditional_model.encoder_.token_columns_, conditional_model.targets_.tolist()) if t]
    assert targets and not set(targets) & set(CONTEXT)
    # The loss reads the logits of the modelled columns only.
    tokens = conditional_model._encode(shoppers.head(64))
    logits, scored = conditional_model._target_logits(
        tokens, conditional_model._visible(conditional_model._training_positions(64)))
    assert logits.shape[0] == scored.shape[0] == len(targets) == tokens.shape[1] - len(CONTEXT)
    conditional_model.save(tmp_path / "model")  # format 3: older versions would sample the context
    assert '"model_format": 3' in (tmp_path / "model" / "config.json").read_text()
    # A row's score is that of its modelled cells given its context: moving the context
    # moves the score.
    rows = shoppers.head(200)
    changed = rows.assign(Month="Feb")
    assert not np.allclose(conditional_model.negative_log_likelihood(rows),
                           conditional_model.negative_log_likelihood(changed))


def test_training_orders_give_the_whole_context_or_part_of_it(conditional_model):
    """Half the training rows see every context column before any target (the orders
    sampling uses); the others the unconditional orders, where a target may precede part of
    its context (which regularises small tables)."""
    model = conditional_model
    model._train_generator = torch.Generator().manual_seed(0)
    positions = model._training_positions(4000)
    context, targets = ~model.targets_, model.targets_
    whole = positions[:, context].max(dim=1).values < positions[:, targets].min(dim=1).values
    assert 0.45 < whole.float().mean().item() < 0.65  # half by design, plus free orders that happen to be so
    assert bool((model._table_positions()[context].max() < model._table_positions()[targets].min()).item())
    # Every row is an order: each position once.
    assert torch.equal(positions.sort(dim=1).values, torch.arange(positions.shape[1]).expand_as(positions))


def test_the_conditional_follows_the_given_context(conditional_model, shoppers):
    """Buyers look at product pages of higher value: the drawn PageValues follow the given
    Revenue as in the real table (real means: about 27 for buyers, 2 for the others)."""
    given = shoppers[CONTEXT].sample(4000, random_state=0).reset_index(drop=True)
    drawn = conditional_model.sample_given(given, random_state=1)
    assert drawn[CONTEXT].equals(given)
    real = shoppers.groupby("Revenue")["PageValues"].mean()
    synthetic = drawn.groupby("Revenue")["PageValues"].mean()
    assert synthetic[True] > 5 * synthetic[False]
    assert abs(synthetic[True] - real[True]) < 0.35 * real[True]


def test_what_a_conditional_model_refuses(conditional_model, shoppers):
    with pytest.raises(ValueError, match=r"^This model learns the other columns given the context \['Month', "
                                         r"'VisitorType', 'Revenue'\] \(fit\(context=\.\.\.\)\); it cannot draw them: "
                                         r"use sample_given with those columns\.$"):
        conditional_model.sample(10)
    with pytest.raises(ValueError, match=r"^sample_given: the model's context column\(s\) \['Month'\] are not "
                                         r"given; a model fitted with context draws the other columns given all "
                                         r"of it\.$"):
        conditional_model.sample_given(shoppers[["Revenue", "VisitorType"]].head(5))
    holes = shoppers.head(20).copy()
    holes["Month"] = holes["Month"].astype(object)
    holes.loc[holes.index[0], "Month"] = None
    with pytest.raises(ValueError, match=r"^impute: context column\(s\) \['Month'\] have missing cells; the model "
                                         r"conditions on its context and cannot fill it\.$"):
        conditional_model.impute(holes)
    with pytest.raises(ValueError, match=r"^context column\(s\) \['Basket'\] are not in the training table\.$"):
        ts.Autoregressive(epochs=1, verbose=False).fit(shoppers.head(100), context=["Basket"])
    with pytest.raises(ValueError, match=r"^context \['Month', 'Revenue'\] covers every column: nothing is left to "
                                         r"model\.$"):
        ts.Autoregressive(epochs=1, verbose=False).fit(shoppers[["Month", "Revenue"]].head(100),
                                                        context=["Revenue", "Month"])
    with_id = shoppers[["Month", "Revenue"]].head(100).assign(session_id=range(100))  # an id: not learned
    with pytest.raises(ValueError, match=r"^context \['Month', 'Revenue'\] covers every learned column: nothing "
                                         r"is left to model\.$"):
        ts.Autoregressive(epochs=1, verbose=False).fit(with_id, context=["Revenue", "Month"])


def test_imputing_a_modelled_column_and_reloading_keep_the_context(conditional_model, shoppers, tmp_path):
    holes = shoppers.head(300).copy()
    holes.loc[holes.index[::2], "PageValues"] = np.nan
    filled = conditional_model.impute(holes, random_state=0)
    assert filled["PageValues"].notna().all()
    assert filled.drop(columns="PageValues").equals(holes.drop(columns="PageValues"))
    conditional_model.save(tmp_path / "conditional")
    loaded = ts.load(tmp_path / "conditional")
    assert loaded.context_columns_ == conditional_model.context_columns_
    given = shoppers[CONTEXT].head(100)
    pd.testing.assert_frame_equal(loaded.sample_given(given, random_state=3),
                                  conditional_model.sample_given(given, random_state=3))
    with pytest.raises(ValueError, match=r"^This model learns the other columns given the context"):
        loaded.sample(5)
