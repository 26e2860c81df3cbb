"""The derived frames of parent-child tables on known answers (real CDNOW rows and credit statements)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tabsynth as ts
from tabsynth.relational import entity_table
from tabsynth.relational import sequences as seq
from tabsynth.relational.data import credit_statements

ROOT = Path(__file__).resolve().parents[2]
CDNOW = ROOT.parent / "shared" / "data" / "cdnow" / "cdnow_transactions.csv"


@pytest.fixture(scope="module")
def purchases():
    if not CDNOW.exists():
        pytest.skip(f"{CDNOW} is not there")
    table = ts.read_table(CDNOW)
    return table[table["customer_id"].isin([2, 3, 4])].reset_index(drop=True)


def test_order_scales():
    dates = pd.Series(pd.to_datetime(["1997-01-01", "1997-01-12"]))
    scale = seq.order_scale(dates, "date", "t")
    assert (scale.kind, scale.unit) == ("datetime", "D")
    assert list(scale.to_numbers(dates)) == [9862.0, 9873.0]
    pd.testing.assert_series_equal(scale.from_numbers(scale.to_numbers(dates)), dates.astype("datetime64[ns]"))
    assert seq.order_scale(pd.Series(["2005-04-01 10:30", "2005-05-01 00:00"]), "t", "x").unit == "s"
    assert seq.order_scale(pd.Series([1, 2, 6]), "month", "x").kind == "integer"
    with pytest.raises(ValueError, match=r"holds non-integer numbers \(e.g. 1.5\)"):
        seq.order_scale(pd.Series([1.0, 1.5]), "month", "x")
    with pytest.raises(ValueError, match=r"has 1 null\(s\)"):
        seq.order_scale(pd.Series(["1997-01-01", None]), "date", "x")


def test_step_frame_gaps_elapsed_and_lags(purchases):
    ordered = seq.sort_children(purchases, "customer_id",
                                seq.order_scale(purchases["date"], "date", "t").to_numbers(purchases["date"]))
    scales = {"children": seq.order_scale(ordered["date"], "date", "children")}
    parents = pd.DataFrame({"customer_id": [2, 3, 4]})
    derived = seq.parent_frame(parents, "customer_id", {"children": ordered}, scales)
    assert list(derived["__n__.children"]) == list(ordered.groupby("customer_id").size())
    steps = seq.step_frame(ordered, derived, parents["customer_id"], "customer_id", scales["children"],
                           ["number_of_cds", "dollar_value"], history=1)
    # Customer 3's purchases: 1997-01-02, 03-30, 04-02, 11-15, 11-25, 1998-05-28 (CDNOW_master).
    three = steps[steps["__parent__.__n__.children"] == 6].reset_index(drop=True)
    gaps = list(three["__gap__"])
    assert gaps[0] == 0 and gaps[1] == 87 and all(g >= 0 for g in gaps)
    # Elapsed at position t: days from the first purchase to the previous one (t - 1).
    assert list(three["__elapsed__"]) == [0, 0, *np.cumsum(gaps[1:5]).tolist()]
    assert three["__lag1__.dollar_value"].isna().iloc[0]
    assert three["__lag1__.dollar_value"].iloc[1] == three["dollar_value"].iloc[0]
    assert list(three["__position__"]) == list(range(6))
    # Running means of the earlier children: a customer's usual spend and pace.
    spend = three["dollar_value"].to_numpy()
    assert np.isnan(three["__mean__.dollar_value"].iloc[0])
    assert three["__mean__.dollar_value"].iloc[3] == pytest.approx(spend[:3].mean())
    assert three["__mean__.__gap__"].isna().iloc[:2].all()  # the first child's gap is no gap
    assert three["__mean__.__gap__"].iloc[3] == pytest.approx(np.mean(gaps[1:3]))


def test_entity_table_aggregates_and_calibration(purchases):
    entities = entity_table(None, purchases, key="customer_id", order_by="date")
    by_key = purchases.groupby("customer_id")
    assert list(entities["n_children"]) == list(by_key.size())
    np.testing.assert_allclose(entities["dollar_value_sum"], by_key["dollar_value"].sum().to_numpy())
    early = entity_table(None, purchases, key="customer_id", order_by="date", until="1997-03-31")
    np.testing.assert_array_equal(
        early["n_children"], [int(((g["date"] <= "1997-03-31")).sum()) for _, g in by_key])


def test_credit_statements_reshape():
    frame = ts.read_table(ROOT / "sample_data" / "credit_default.csv.gz").head(3)
    customers, statements = credit_statements(frame)
    assert list(customers.columns) == ["ID", "LIMIT_BAL", "SEX", "EDUCATION", "MARRIAGE", "AGE", "default"]
    first = statements[statements["ID"] == 1]
    assert list(first["month"].dt.month) == [4, 5, 6, 7, 8, 9]
    # Client 1: BILL_AMT1 (September) 3913, BILL_AMT6 (April) 0; PAY_0 (September) 2.
    assert first["bill_amount"].iloc[-1] == 3913 and first["bill_amount"].iloc[0] == 0
    assert first["repayment_status"].iloc[-1] == 2
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['PAY_AMT6'\]"):
        credit_statements(frame.drop(columns=["PAY_AMT6"]))
