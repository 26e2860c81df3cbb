"""Parent-child data helpers: splitting by parent, and the credit table as customers + statements."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tabsynth.metadata import as_dataframe

# The credit table's monthly columns, newest first: September (1) back to April (6) 2005.
# PAY_0 is September's repayment status (the source skips PAY_1).
_STATUS = ["PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6"]
_BILL = [f"BILL_AMT{i}" for i in range(1, 7)]
_PAID = [f"PAY_AMT{i}" for i in range(1, 7)]
_MONTHS = pd.to_datetime(["2005-09-01", "2005-08-01", "2005-07-01", "2005-06-01", "2005-05-01", "2005-04-01"])


def credit_statements(credit: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Taiwan credit-default table (Yeh & Lien 2009) as a finance parent-child pair.

    Parameters
    ----------
    credit : DataFrame or Arrow table
        ``sample_data/credit_default.csv.gz``: 30,000 clients x 25 columns.

    Returns
    -------
    (customers, statements)
        ``customers``: ``ID``, ``LIMIT_BAL``, ``SEX``, ``EDUCATION``, ``MARRIAGE``, ``AGE`` and
        ``default`` (0/1, the next month's default), one row per client. ``statements``: six
        rows per client, ``ID``, ``month`` (datetime, 2005-04-01 .. 2005-09-01, oldest first),
        ``repayment_status`` (-2 .. 9), ``bill_amount`` and ``paid_amount`` (NT dollars).

    Raises
    ------
    ValueError
        If a column of the credit table is missing (the message lists them).
    """
    frame = as_dataframe(credit)
    needed = ["ID", "LIMIT_BAL", "SEX", "EDUCATION", "MARRIAGE", "AGE", "default payment next month",
              *_STATUS, *_BILL, *_PAID]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"The credit table lacks column(s) {missing}; expected the UCI 'default of credit "
                         "card clients' layout (sample_data/credit_default.csv.gz).")
    customers = frame[["ID", "LIMIT_BAL", "SEX", "EDUCATION", "MARRIAGE", "AGE"]].copy()
    customers["default"] = frame["default payment next month"].astype(np.int64)
    months = []
    for month, status, bill, paid in reversed(list(zip(_MONTHS, _STATUS, _BILL, _PAID))):
        months.append(pd.DataFrame({"ID": frame["ID"], "month": month, "repayment_status": frame[status],
                                    "bill_amount": frame[bill], "paid_amount": frame[paid]}))
    statements = pd.concat(months, ignore_index=True)
    order = np.lexsort((statements["month"].to_numpy(), statements["ID"].to_numpy()))
    return customers.reset_index(drop=True), statements.iloc[order].reset_index(drop=True)


def split_by_parent(parents: pd.DataFrame | None, children: pd.DataFrame, *, key: str, holdout_share: float = 0.2,
                    random_state: int = 0) -> tuple[tuple, tuple]:
    """Split parents (with all their children) into training and holdout sets.

    Parameters
    ----------
    parents : DataFrame or None
        None: the parents are the keys of ``children`` (returned as None too).
    children : DataFrame
    key : str
    holdout_share : float, default 0.2
    random_state : int, default 0

    Returns
    -------
    ((train_parents, train_children), (holdout_parents, holdout_children))

    Raises
    ------
    ValueError
        If ``holdout_share`` is not in (0, 1).
    """
    if not 0 < holdout_share < 1:
        raise ValueError(f"holdout_share must be in (0, 1), got {holdout_share!r}.")
    keys = pd.unique(children[key]) if parents is None else parents[key].to_numpy()
    rng = np.random.default_rng(random_state)
    held = set(rng.choice(keys, size=int(round(len(keys) * holdout_share)), replace=False).tolist())
    in_holdout = children[key].isin(held)
    out = []
    for chosen in (~in_holdout, in_holdout):
        part_children = children[chosen.to_numpy()].reset_index(drop=True)
        part_parents = None
        if parents is not None:
            mask = parents[key].isin(held).to_numpy()
            part_parents = parents[mask if chosen is in_holdout else ~mask].reset_index(drop=True)
        out.append((part_parents, part_children))
    return out[0], out[1]
