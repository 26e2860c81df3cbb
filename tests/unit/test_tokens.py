"""The discrete (token) view of real tables: round trips, bins, privacy defaults, state."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import ks_2samp

import tabsynth as ts
from tabsynth.encoding.token_table import TokenTable
from tabsynth.models.autoregressive.network import ARNetworkConfig, ColumnAR, table_positions, training_positions, visibility


@pytest.fixture(scope="module")
def credit_tokens(credit):
    return TokenTable(ts.Metadata.infer(credit)).fit(credit)


def test_round_trip_keeps_categories_and_numeric_marginals(credit, credit_tokens):
    tokens = credit_tokens.transform(credit)
    assert tokens.shape == (30_000, 24)  # every column but the ID is learned
    assert tokens.dtype == np.int64 and (tokens >= 0).all()
    assert (tokens.max(axis=0) < np.array(credit_tokens.vocabulary_sizes_)).all()
    back = credit_tokens.inverse_transform(tokens, np.random.default_rng(0))
    assert list(back.columns) == list(credit.columns) and back.dtypes.to_dict() == credit.dtypes.to_dict()
    for column in ("SEX", "MARRIAGE", "PAY_0", "default payment next month"):
        assert back[column].equals(credit[column])
    for column in ("LIMIT_BAL", "AGE", "BILL_AMT1", "PAY_AMT3"):
        assert ks_2samp(back[column], credit[column]).statistic < 0.005, column
        assert (back[column] == back[column].round()).all()  # integers stay integers
    assert back["ID"].min() > credit["ID"].max()  # fresh keys


def test_point_masses_and_equal_values_share_one_token(credit, credit_tokens):
    pay = credit_tokens.tokenizers_["PAY_AMT1"]
    assert 0.0 in pay.points_  # 17% of the rows pay nothing: a point mass, decoded exactly
    tokens = pay.to_tokens(credit["PAY_AMT1"])
    zero = tokens[credit["PAY_AMT1"].to_numpy() == 0]
    assert len(set(zero)) == 1 and zero[0] < pay.n_points
    # A value never straddles two bins.
    for value in credit["PAY_AMT1"].sample(200, random_state=0):
        assert len(set(tokens[credit["PAY_AMT1"].to_numpy() == value])) == 1
    # Each bin holds at least rare_threshold rows.
    bins = tokens[tokens >= pay.n_points]
    assert np.bincount(bins).max() > 0 and np.bincount(bins)[pay.n_points:].min() >= 5


def test_unseen_values_map_to_the_nearest_bin_and_clip(credit, credit_tokens):
    limit = credit_tokens.tokenizers_["LIMIT_BAL"]
    tokens = limit.to_tokens(pd.Series([-1e9, credit["LIMIT_BAL"].median() + 0.5, 1e12]))
    assert tokens[0] == limit.to_tokens(pd.Series([limit.low_]))[0]
    assert tokens[2] == limit.to_tokens(pd.Series([limit.high_]))[0]
    assert limit.low_ > credit["LIMIT_BAL"].min() - 1 and limit.high_ < credit["LIMIT_BAL"].max()


def test_range_condition_masks_and_bounds(credit_tokens, credit):
    mask, bounds = credit_tokens.allowed_tokens("AGE", (30.2, 40))
    assert bounds == (31.0, 40.0)  # rounded inward to integers
    age = credit_tokens.tokenizers_["AGE"]
    tokens = np.flatnonzero(mask)
    draws = age.from_tokens(np.repeat(tokens, 200), np.random.default_rng(0), bounds)
    assert draws.between(31, 40).all() and set(draws) == set(range(31, 41))


def test_state_round_trips_through_json(credit, credit_tokens):
    state = json.loads(json.dumps(credit_tokens.state()))
    again = TokenTable.from_state(credit_tokens.metadata, state)
    assert np.array_equal(again.transform(credit), credit_tokens.transform(credit))
    a = credit_tokens.inverse_transform(credit_tokens.transform(credit.head(500)), np.random.default_rng(1))
    b = again.inverse_transform(again.transform(credit.head(500)), np.random.default_rng(1))
    pd.testing.assert_frame_equal(a, b)


def test_visibility_follows_each_rows_order():
    generator = torch.Generator().manual_seed(0)
    positions = training_positions(1000, 6, generator, torch.device("cpu"))
    assert (positions.sort(dim=1).values == torch.arange(6)).all()  # each row a permutation
    table = (positions == torch.arange(6)).all(dim=1).float().mean()
    assert 0.45 < table < 0.6  # about half the rows use the table order
    visible = visibility(positions)  # (J, B, J)
    for b in range(20):
        for t in range(6):
            for s in range(6):
                assert bool(visible[t, b, s]) == bool(positions[b, s] < positions[b, t])
    assert torch.equal(visibility(table_positions(3, torch.device("cpu"))),
                       torch.tensor([[False, False, False], [True, False, False], [True, True, False]]))


def test_network_respects_the_mask_and_has_per_example_gradients(credit, credit_tokens):
    network = ColumnAR(ARNetworkConfig(tuple(credit_tokens.vocabulary_sizes_), 8, 32, 0.0))
    tokens = torch.as_tensor(credit_tokens.transform(credit.head(64)))
    visible = visibility(table_positions(tokens.shape[1], torch.device("cpu")))
    logits = network(tokens, visible)
    changed = tokens.clone()
    changed[:, 5] = (changed[:, 5] + 1) % credit_tokens.vocabulary_sizes_[5]
    again = network(changed, visible)
    # Columns before 5 in the table order cannot see column 5; later ones can.
    assert torch.equal(logits[:6], again[:6]) and not torch.equal(logits[6:], again[6:])

    # Per-example gradients (what DP-SGD clips) with torch.func, as Opacus' functorch mode does.
    params = {k: v.detach() for k, v in network.named_parameters()}

    def row_nll(p, row):
        out = torch.func.functional_call(network, p, (row.unsqueeze(0), visible))  # (J, 1, V)
        return torch.nn.functional.cross_entropy(out[:, 0, :], row)

    per_example = torch.func.vmap(torch.func.grad(row_nll), in_dims=(None, 0))(params, tokens[:4])
    assert per_example["input.weight"].shape == (4, *network.input.weight.shape)
    assert not torch.allclose(per_example["input.weight"][0], per_example["input.weight"][1])
