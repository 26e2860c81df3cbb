"""Fine tokens: a number's place inside its quantile bin as a second token (two-level quantisation)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import tabsynth as ts
from tabsynth.encoding.token_table import FINE_SUFFIX, TokenTable
from tabsynth.encoding.tokens import _place_in_bins
from tabsynth.relational.data import credit_statements


@pytest.fixture(scope="module")
def statements(credit):
    return credit_statements(credit)[1]


def _autocorrelation_ks(real: pd.DataFrame, other: pd.DataFrame, column: str) -> float:
    from tabsynth.relational import evaluation

    a = evaluation._sequence_statistics(real, "ID", "month", [column], "statements")["autocorrelation"][column]
    b = evaluation._sequence_statistics(other, "ID", "month", [column], "statements")["autocorrelation"][column]
    return evaluation._ks(a, b)


def test_fine_tokens_sit_after_their_column_and_cover_the_sub_bins(credit):
    table = TokenTable(ts.Metadata.infer(credit), fine_bins=16).fit(credit)
    columns = table.token_columns_
    # Numbers with quantile bins get a fine token right after them; categories and
    # columns made only of point masses do not.
    assert columns[columns.index("BILL_AMT1") + 1] == "BILL_AMT1" + FINE_SUFFIX
    assert "SEX" + FINE_SUFFIX not in columns and "PAY_0" + FINE_SUFFIX not in columns
    assert table.token_indices("BILL_AMT1") == [columns.index("BILL_AMT1"), columns.index("BILL_AMT1") + 1]
    assert table.token_indices("SEX") == [columns.index("SEX")]
    tokens = table.transform(credit)
    assert tokens.shape == (30_000, len(columns)) and len(table.vocabulary_sizes_) == len(columns)
    assert (tokens.max(axis=0) < np.array(table.vocabulary_sizes_)).all()
    bill = table.tokenizers_["BILL_AMT1"]
    fine = tokens[:, columns.index("BILL_AMT1" + FINE_SUFFIX)]
    in_bin = tokens[:, columns.index("BILL_AMT1")] >= bill.n_points
    # Values outside any bin (here the point mass at 0) take the last fine token ...
    assert (fine[~in_bin] == 16).all() and (credit["BILL_AMT1"].to_numpy()[~in_bin] == 0).all()
    # ... and the sub-bins split the binned values in near-equal shares (1/16 = 6.25% each).
    shares = np.bincount(fine[in_bin], minlength=16) / in_bin.sum()
    assert shares.min() > 0.045 and shares.max() < 0.08


def test_decoding_inside_the_sub_bin_keeps_both_tokens(credit):
    table = TokenTable(ts.Metadata.infer(credit), fine_bins=16).fit(credit)
    tokens = table.transform(credit)
    back = table.inverse_transform(tokens, np.random.default_rng(0))
    again = table.transform(back)
    for column in ("BILL_AMT1", "PAY_AMT3", "LIMIT_BAL"):
        first, second = table.token_indices(column)
        assert (again[:, first] == tokens[:, first]).mean() > 0.99, column
        # Rounding to whole dollars can move a value across a sub-bin's edge, rarely.
        assert (again[:, second] == tokens[:, second]).mean() > 0.97, column


def test_fine_tokens_keep_the_month_to_month_autocorrelation_of_bills(statements):
    """What they are for: re-drawing each real bill inside its own 32 bins loses where it lay
    in the bin, and with it the within-client autocorrelation; the sub-bin keeps it."""
    own = ["repayment_status", "bill_amount", "paid_amount"]
    scores = {}
    for fine_bins in (1, 16):
        table = TokenTable(ts.Metadata.infer(statements[own]), fine_bins=fine_bins).fit(statements[own])
        redrawn = statements.copy()
        redrawn[own] = table.inverse_transform(table.transform(statements[own]), np.random.default_rng(0)).to_numpy()
        scores[fine_bins] = _autocorrelation_ks(statements, redrawn, "bill_amount")
    assert scores[1] < 0.88 and scores[16] > 0.97, scores


def test_place_in_bins_inverts_the_quantile_function():
    knots = np.array([[0.0, 1.0, 2.0, 4.0], [5.0, 5.0, 5.0, 6.0]])
    values = np.array([3.0, 5.0])
    u = _place_in_bins(values, knots)
    assert u[0] == pytest.approx(2 / 3 + 0.5 / 3)  # halfway between the knots at 2/3 and 1
    assert u[1] == pytest.approx(1 / 3)  # the middle of the flat stretch u in [0, 2/3]
    assert _place_in_bins(np.zeros(0), knots[:0]).shape == (0,)


def test_state_round_trips_and_old_states_have_no_fine_tokens(credit):
    metadata = ts.Metadata.infer(credit)
    table = TokenTable(metadata, fine_bins={"BILL_AMT1": 8}).fit(credit)
    assert [c for c in table.token_columns_ if c.endswith(FINE_SUFFIX)] == ["BILL_AMT1" + FINE_SUFFIX]
    state = json.loads(json.dumps(table.state()))
    loaded = TokenTable.from_state(metadata, state)
    assert loaded.token_columns_ == table.token_columns_
    assert (loaded.transform(credit) == table.transform(credit)).all()
    del state["fine_bins"]  # a state written before fine tokens
    assert TokenTable.from_state(metadata, state).token_columns_ == table.columns_


def test_range_condition_holds_whatever_sub_bin_is_drawn(credit):
    table = TokenTable(ts.Metadata.infer(credit), fine_bins=16).fit(credit)
    bill = table.tokenizers_["BILL_AMT1"]
    mask, bounds = bill.allowed_tokens((10_000, 20_000))
    tokens = np.repeat(np.flatnonzero(mask), 16)
    fine = np.tile(np.arange(17), len(tokens) // 17 + 1)[: len(tokens)]  # every sub-bin, "none" too
    values = bill.from_tokens(tokens, np.random.default_rng(0), bounds, fine=fine)
    assert values.between(10_000, 20_000).all()


def test_autoregressive_with_fine_tokens_samples_conditions_imputes_and_reloads(shoppers, tmp_path):
    real = shoppers.head(3000)
    model = ts.Autoregressive(epochs=2, fine_bins=8, random_state=0, verbose=False).fit(real)
    assert "ProductRelated_Duration" + FINE_SUFFIX in model.encoder_.token_columns_
    rows = model.sample(400, conditions={"ProductRelated_Duration": (100, 2000), "Revenue": True})
    assert rows["ProductRelated_Duration"].between(100, 2000).all() and rows["Revenue"].all()
    given = real[["Month", "ProductRelated_Duration"]].head(50)
    drawn = model.sample_given(given, random_state=1)
    assert drawn["ProductRelated_Duration"].equals(given["ProductRelated_Duration"].reset_index(drop=True))
    holes = real.head(200).copy()
    holes.loc[holes.index[::3], "ProductRelated_Duration"] = np.nan
    filled = model.impute(holes, random_state=2)
    assert filled["ProductRelated_Duration"].notna().all()
    kept = holes["ProductRelated_Duration"].notna()
    assert filled.loc[kept, "ProductRelated_Duration"].equals(holes.loc[kept, "ProductRelated_Duration"])
    assert filled.drop(columns="ProductRelated_Duration").equals(holes.drop(columns="ProductRelated_Duration"))
    model.save(tmp_path / "model")
    # Format 3 marks the fine tokens, so a tabsynth from before them refuses the file.
    assert json.loads((tmp_path / "model" / "config.json").read_text())["model_format"] == 3
    loaded = ts.load(tmp_path / "model")
    pd.testing.assert_frame_equal(loaded.sample(100, random_state=5), model.sample(100, random_state=5))


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, {"Administrative": 0}])
def test_bad_fine_bins_are_refused(shoppers, bad):
    with pytest.raises(ValueError, match=r"^fine_bins must be a positive integer or a dict of column -> positive "
                                         r"integer, got "):
        ts.Autoregressive(fine_bins=bad, verbose=False).fit(shoppers.head(100))


def test_fine_bins_for_a_column_that_is_not_a_number_are_refused(shoppers):
    with pytest.raises(ValueError, match=r"^fine_bins names column\(s\) \['Month', 'Basket'\] that are not numerical "
                                         r"columns of the table; fine tokens are for numerical columns\.$"):
        ts.Autoregressive(fine_bins={"PageValues": 8, "Month": 8, "Basket": 8}, verbose=False).fit(shoppers.head(200))
