"""Gaussian mechanisms on counts: noisy histograms over a public domain and partition selection.

Every function here reads real rows, so every one records itself in the
:class:`~tabsynth.privacy.accounting.PrivacyLedger` it is given; nothing else in tabsynth
computes statistics of real rows in DP mode.

* :meth:`Releaser.count`: the number of rows, plus Gaussian noise.
* :meth:`Releaser.histogram`: counts over a public, fixed domain (declared categories,
  group sizes 1..cap), each plus Gaussian noise (no threshold needed).
* :meth:`Releaser.select_partitions`: counts over a domain read from the data (category
  values, exact numbers, value cells): only values whose noisy count crosses a threshold
  are released, so a value held by a single row appears with probability at most the
  threshold's delta share (Korolova et al. 2009; Desfontaines, Voss, Gipson & Mandayam
  2022, "Differentially private partition selection").

The noise comes from ``numpy``'s PCG64 generator seeded by :func:`secret_seed` (the
operating system's entropy), never from ``random_state``: the model directory saves the
fit's seed, and noise drawn from it could be recomputed and subtracted. DP fits are
therefore not reproducible bit for bit. Like most DP libraries' floating-point samplers it
is not hardened against attacks on the floating-point representation (Mironov 2012).
"""

from __future__ import annotations

import secrets
from collections.abc import Hashable, Sequence

import numpy as np
from scipy.stats import norm

from tabsynth.privacy.accounting import Mechanism, PrivacyLedger


def secret_seed() -> int:
    """A 63-bit seed from the operating system's entropy, for every draw a DP guarantee rests on
    (noise, Poisson sampling). It is never saved."""
    return secrets.randbits(63)


class Releaser:
    """Runs the counting mechanisms of one fit with one noise level, recording each.

    Parameters
    ----------
    ledger : PrivacyLedger
    noise_std : float
        Gaussian standard deviation of every count (from
        :func:`~tabsynth.privacy.accounting.preprocessing_noise_std`).
    n_selections : int
        How many partition selections the fit will run; the threshold delta
        (:attr:`DPConfig.threshold_delta`) is split evenly between them.
    rng : numpy.random.Generator
    """

    def __init__(self, ledger: PrivacyLedger, noise_std: float, n_selections: int, rng: np.random.Generator):
        self.ledger = ledger
        self.noise_std = float(noise_std)
        self.rng = rng
        self.selection_delta = ledger.config.threshold_delta / max(n_selections, 1)
        # A value held by one row has count 1: it crosses the threshold with probability
        # P(1 + N(0, sigma^2) > threshold) = selection_delta.
        self.threshold = 1.0 + self.noise_std * float(norm.isf(self.selection_delta))

    def count(self, n_rows: int, what: str = "row count") -> float:
        """``n_rows`` plus Gaussian noise (sensitivity 1), at least 1."""
        self.ledger.add(Mechanism(what, [], noise_std=self.noise_std))
        return max(1.0, n_rows + self.noise_std * self.rng.standard_normal())

    def histogram(self, codes: np.ndarray, size: int, *, column: str, what: str,
                  sensitivity: float = 1.0) -> np.ndarray:
        """Noisy counts of ``codes`` (int, in ``[0, size)``) over the public domain ``range(size)``.

        Returns ``(size,)`` float counts, clipped at 0 (post-processing).
        ``sensitivity`` is the L2 change one row can make to the whole count vector.
        """
        self.ledger.add(Mechanism(what, [column], noise_std=self.noise_std, sensitivity=sensitivity))
        counts = np.bincount(np.asarray(codes, dtype=np.int64), minlength=size)[:size].astype(float)
        return np.maximum(counts + self.noise_std * self.rng.standard_normal(size), 0.0)

    def select_partitions(self, keys: Sequence[Hashable] | np.ndarray, *, column: str, what: str,
                          minimum_count: float = 0.0) -> dict:
        """Release the keys whose noisy count exceeds the threshold, with their noisy counts.

        Parameters
        ----------
        keys : sequence of hashables, or a 1-D numeric array (NaN: null), one per row
            (each row adds one count to one key)
        minimum_count : float
            A further (public or DP) count a key must reach; the threshold is the larger.

        Returns
        -------
        dict
            ``{key: noisy count}`` of the released keys, most frequent first. Keys held by
            few rows are absent; which keys exist in the data is never revealed otherwise.
        """
        self.ledger.add(Mechanism(what, [column], noise_std=self.noise_std, threshold=self.threshold,
                                  threshold_delta=self.selection_delta))
        values, counts = _unique_counts(keys)
        noisy = counts + self.noise_std * self.rng.standard_normal(len(counts))
        cut = max(self.threshold, minimum_count)
        released = [(noisy[i], i) for i in range(len(values)) if noisy[i] > cut]
        released.sort(key=lambda item: -item[0])  # by noisy count: the data's order is not revealed
        return {values[i]: float(c) for c, i in released}


def _unique_counts(keys) -> tuple[list, np.ndarray]:
    """Distinct keys and their counts, for numbers (fast path) or any hashables."""
    if isinstance(keys, np.ndarray) and keys.ndim == 1 and keys.dtype.kind in "iuf":
        values, counts = np.unique(keys, return_counts=True)  # NaNs (nulls) count as one value
        return [v.item() for v in values], counts.astype(float)
    tally: dict = {}
    for key in keys:
        tally[key] = tally.get(key, 0) + 1
    return list(tally), np.fromiter(tally.values(), dtype=float, count=len(tally))
