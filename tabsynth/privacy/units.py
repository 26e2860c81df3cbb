"""Privacy units: when one person owns several rows, the person is what DP protects.

Neighbouring datasets then differ by one person with all their rows (user-level DP, as in
McMahan et al. 2018, "Learning Differentially Private Recurrent Language Models", and
the per-user sampling of DP-FedAvg). Two things change in a DP fit:

* DP-SGD samples *persons* by Poisson sampling (every row of a sampled person enters the
  step) and bounds each person's summed gradient by the clipping norm ``C``: each of a
  person's ``k`` rows is clipped to ``C / k``, so by the triangle inequality the person's
  contribution has norm at most ``C`` and the Gaussian noise of standard deviation
  ``z * C`` covers it exactly as it covers one row in the row-level analysis. (Clipping the
  sum of a person's gradients instead would waste less signal but needs each person's
  summed gradient; the per-row shares work with ghost clipping's per-row norms.)
* The encoder's statistics (category sets, quantile bins, null shares) are released from
  one row per person, drawn at random with a secret seed: each person then adds one row to
  each histogram, the sensitivity the release mechanisms are calibrated for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch


@dataclass(frozen=True)
class PrivacyUnits:
    """Which person each row of a table belongs to.

    Attributes
    ----------
    codes : ndarray of int64, shape (n_rows,)
        Each row's person, numbered 0 .. n_units - 1.
    n_units : int
        Persons.
    """

    codes: np.ndarray
    n_units: int

    @classmethod
    def from_values(cls, values: Any, n_rows: int) -> "PrivacyUnits":
        """Person ids (any hashable values) -> PrivacyUnits.

        Raises
        ------
        ValueError
            If ``values`` does not hold one id per row, or holds nulls.
        """
        series = pd.Series(np.asarray(values, dtype=object) if not isinstance(values, pd.Series) else values)
        if series.ndim != 1 or len(series) != n_rows:
            raise ValueError(f"privacy_units must hold one person id per row: got {len(series):,} ids for "
                             f"{n_rows:,} rows.")
        if series.isna().any():
            raise ValueError(f"privacy_units holds {int(series.isna().sum()):,} null id(s); every row needs the id "
                             "of the person it belongs to.")
        codes, uniques = pd.factorize(series, sort=False)
        return cls(codes.astype(np.int64), len(uniques))

    @property
    def rows_per_unit(self) -> np.ndarray:
        """``(n_units,)`` int64: rows of each person."""
        return np.bincount(self.codes, minlength=self.n_units)

    def one_row_each(self, rng: np.random.Generator) -> np.ndarray:
        """``(n_units,)`` row indices: one row per person, uniformly at random."""
        shuffled = rng.permutation(len(self.codes))
        _, first = np.unique(self.codes[shuffled], return_index=True)
        return np.sort(shuffled[first])

    def batcher(self, device: torch.device) -> "UnitBatcher":
        """The map from sampled persons to their rows, on ``device``."""
        return UnitBatcher(self, device)


class UnitBatcher:
    """Rows and clipping shares of Poisson-sampled persons (see the module docstring)."""

    def __init__(self, units: PrivacyUnits, device: torch.device):
        order = np.argsort(units.codes, kind="stable")
        counts = units.rows_per_unit
        self._rows = torch.as_tensor(order, device=device)  # rows grouped by person
        self._counts = torch.as_tensor(counts, device=device)
        self._offsets = torch.as_tensor(np.concatenate([[0], np.cumsum(counts)[:-1]]), device=device)

    def rows(self, persons: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(b,)`` person indices -> (``(r,)`` int64 row indices, ``(r,)`` float32 shares).

        Each row's share is 1 / (its person's rows), so a person's shares sum to 1.
        """
        persons = persons.to(self._counts.device)
        counts = self._counts[persons]
        starts = torch.repeat_interleave(self._offsets[persons], counts)
        firsts = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        within = torch.arange(int(counts.sum()), device=counts.device) - firsts
        shares = torch.repeat_interleave(1.0 / counts.to(torch.float32), counts)
        return self._rows[starts + within], shares
