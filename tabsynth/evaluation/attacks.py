"""Pure statistics behind the privacy section: nearest records, row matching and attack scoring.

Nothing here knows about reports or tables; every function takes arrays and returns arrays
or floats, so each can be checked on its own.

* :func:`nearest_gower` — Gower distances to the ``k`` closest reference rows
  (Gower, 1971, "A general coefficient of similarity and some of its properties").
* :func:`row_hashes` / :func:`share_in` — exact-copy detection on whole rows.
* :func:`tie_split_share` — the DCR share (Platzer & Reutterer, 2021, "Holdout-based
  fidelity and privacy assessment of mixed-type synthetic data").
* :func:`nearest_ratio` — nearest-neighbour distance ratio (Lowe, 2004, used for synthetic
  data by Zhao et al., 2021, CTAB-GAN).
* :func:`domias_scores` — density-ratio membership score in the spirit of DOMIAS
  (van Breugel et al., AISTATS 2023, "Membership Inference Attacks against Synthetic Data
  through Overfitting Detection").
* :func:`attack_summary` / :func:`bootstrap_attack` / :func:`roc_points` — ROC AUC and
  true-positive rate at a fixed false-positive rate (Carlini et al., 2022, "Membership
  Inference Attacks From First Principles"), with percentile bootstrap intervals
  (Efron & Tibshirani, 1993).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from sklearn.metrics import auc as area_under, roc_curve

FPR_LEVELS = (0.01, 0.001)  # false-positive rates at which the true-positive rate is read


@dataclass
class GowerPoints:
    """Rows in Gower space, split so that distances are cheap.

    Attributes
    ----------
    numeric : ndarray, shape (n, p), float32
        Range-scaled numerical columns (null = 2, so it never matches a number).
    onehot : ndarray, shape (n, q), float32
        Categorical one-hots scaled by 1/2 (null is its own level), so two rows differing
        in a column are 1 apart in L1 on that column's block.
    n_categorical : int
        Categorical columns behind ``onehot``.
    n_columns : int
        All columns (numerical + categorical): the Gower distance is
        (L1 + unequal ``codes``) / ``n_columns``.
    codes : ndarray, shape (n, w), int64, optional
        Categorical columns compared by code (too many levels for a one-hot block); two
        rows differing in one add 1. Empty (w = 0) when not given.
    """

    numeric: np.ndarray
    onehot: np.ndarray
    n_categorical: int
    n_columns: int
    codes: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.codes is None:
            self.codes = np.empty((self.numeric.shape[0], 0), dtype=np.int64)

    def __len__(self) -> int:
        return self.numeric.shape[0]

    def take(self, rows: np.ndarray) -> "GowerPoints":
        """The subset of rows at integer positions ``rows``."""
        return GowerPoints(self.numeric[rows], self.onehot[rows], self.n_categorical, self.n_columns,
                           self.codes[rows])


def nearest_gower(query: GowerPoints, reference: GowerPoints, k: int = 1, chunk_rows: int = 1024) -> np.ndarray:
    """Gower distances from each query row to its ``k`` closest reference rows.

    The categorical part is computed with one matrix product (a one-hot mismatch count is
    ``n_categorical - 4 * <a, b>`` for one-hots scaled by 1/2) and the numerical part with
    ``torch.cdist(p=1)``, and the columns given as ``codes`` add one per unequal code;
    query rows are processed in chunks of ``chunk_rows`` so memory is
    ``chunk_rows * len(reference)`` floats.

    Parameters
    ----------
    query, reference : GowerPoints
        Same columns; ``len(reference) >= k``.
    k : int, default 1
    chunk_rows : int, default 1024

    Returns
    -------
    ndarray, shape (len(query), k), float64
        Sorted ascending, in [0, 1] (2 / n_columns per null-vs-number column at most).

    Raises
    ------
    ValueError
        When the reference has fewer than ``k`` rows.
    """
    if len(reference) < k:
        raise ValueError(f"The reference set has {len(reference)} rows; nearest_gower needs at least k={k}.")
    ref_num, ref_cat = torch.from_numpy(reference.numeric), torch.from_numpy(reference.onehot)
    ref_codes = torch.from_numpy(np.ascontiguousarray(reference.codes))
    out = np.empty((len(query), k), dtype=np.float64)
    for start in range(0, len(query), chunk_rows):
        stop = min(start + chunk_rows, len(query))
        if ref_num.shape[1]:
            l1 = torch.cdist(torch.from_numpy(query.numeric[start:stop]), ref_num, p=1)
        else:
            l1 = torch.zeros((stop - start, len(reference)))
        if ref_cat.shape[1]:  # + n_categorical - 4 <a, b>; the constant is added after ranking
            l1.addmm_(torch.from_numpy(query.onehot[start:stop]), ref_cat.T, alpha=-4.0)
        for j in range(ref_codes.shape[1]):
            l1 += torch.from_numpy(query.codes[start:stop, j:j + 1]) != ref_codes[:, j]
        values = l1.min(dim=1, keepdim=True).values if k == 1 else torch.topk(l1, k, dim=1, largest=False).values
        out[start:stop] = (values.double().numpy() + query.n_categorical).clip(min=0.0) / query.n_columns
    return out


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash per row; equal rows (nulls equal to nulls, -0.0 equal to 0.0) hash equally.

    Parameters
    ----------
    frame : DataFrame, shape (n, c)
        Numerical columns as float64; other columns are compared by value.

    Returns
    -------
    ndarray, shape (n,), uint64
    """
    normal = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_float_dtype(values):
            numbers = values.to_numpy(dtype=float)
            normal[f"{column}\0null"] = np.isnan(numbers)
            normal[column] = np.where(np.isnan(numbers), 0.0, numbers) + 0.0  # + 0.0 turns -0.0 into 0.0
        else:
            normal[f"{column}\0null"] = values.isna().to_numpy()
            normal[column] = values.astype(object).where(values.notna(), "").map(repr).to_numpy()
    return pd.util.hash_pandas_object(pd.DataFrame(normal), index=False).to_numpy()


def share_in(hashes: np.ndarray, reference_hashes: np.ndarray) -> float:
    """Share of ``hashes`` that occur in ``reference_hashes`` (exact copies)."""
    return float(np.isin(hashes, reference_hashes).mean()) if len(hashes) else float("nan")


def tie_split_share(to_train: np.ndarray, to_holdout: np.ndarray) -> float:
    """Share of rows strictly closer to train than to holdout, ties counted half.

    Parameters
    ----------
    to_train, to_holdout : ndarray, shape (n,)
        Distance of each row to its closest training and holdout row.
    """
    closer = (to_train < to_holdout).astype(float) + 0.5 * (to_train == to_holdout)
    return float(closer.mean())


def nearest_ratio(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Nearest-neighbour distance ratio ``first / second`` per row.

    A ratio near 0 means one reference row is far closer than any other (the row points at
    one record); when both distances are 0 the row sits on two identical records and the
    ratio is 1 (it singles out nobody).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(second > 0, first / np.where(second > 0, second, 1.0), 1.0)


def domias_scores(queries: np.ndarray, synthetic: np.ndarray, reference: np.ndarray, *,
                  n_components: int = 10, random_state: int = 0) -> np.ndarray:
    """Membership score ``log p_synth(x) - log p_ref(x)`` (DOMIAS, van Breugel et al., 2023).

    Rows are embedded with a whitened PCA (fitted on synthetic and reference rows together)
    and each density is a Gaussian kernel density estimate with Scott's bandwidth
    (:func:`gaussian_kde_log_density`). A row
    where the generator puts much more mass than the real population does is likely a
    training member (the generator over-fitted to it).

    Parameters
    ----------
    queries : ndarray, shape (m, d)
        Rows to score (members and non-members), in Gower space.
    synthetic : ndarray, shape (n_s, d)
    reference : ndarray, shape (n_r, d)
        Real rows from the population, never used for training nor scored.
    n_components : int, default 10
        PCA dimensions (capped by ``d`` and the row counts).
    random_state : int, default 0

    Returns
    -------
    ndarray, shape (m,), float64
        Higher = more likely a member.
    """
    fit_rows = np.concatenate([synthetic, reference]).astype(np.float64)
    n_components = max(1, min(n_components, fit_rows.shape[1], len(fit_rows) - 1))
    pca = PCA(n_components=n_components, whiten=True, random_state=random_state).fit(fit_rows)
    embed = lambda rows: np.nan_to_num(pca.transform(rows.astype(np.float64)))  # noqa: E731
    points = embed(queries)
    return gaussian_kde_log_density(points, embed(synthetic)) - gaussian_kde_log_density(points, embed(reference))


def gaussian_kde_log_density(points: np.ndarray, data: np.ndarray, chunk_rows: int = 2048) -> np.ndarray:
    """Log density of an isotropic Gaussian kernel density estimate at ``points``.

    The bandwidth is Scott's rule, ``h = n ** (-1 / (d + 4))`` times the data's mean
    standard deviation (Scott, 1992, "Multivariate Density Estimation"), so ``data``
    should be roughly whitened.

    Parameters
    ----------
    points : ndarray, shape (m, d)
    data : ndarray, shape (n, d)
        Kernel centres, n >= 1.

    Returns
    -------
    ndarray, shape (m,), float64
        ``log p(points)`` (natural log, density in the embedding's units).
    """
    n, d = data.shape
    spread = float(np.mean(data.std(axis=0))) if n > 1 else 1.0
    h = (spread or 1.0) * n ** (-1.0 / (d + 4))
    centres = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float64))
    out = np.empty(len(points))
    for start in range(0, len(points), chunk_rows):
        block = torch.from_numpy(np.ascontiguousarray(points[start:start + chunk_rows], dtype=np.float64))
        squared = torch.cdist(block, centres, p=2) ** 2
        out[start:start + chunk_rows] = torch.logsumexp(-squared / (2 * h * h), dim=1).numpy()
    return out - np.log(n) - 0.5 * d * np.log(2 * np.pi * h * h)


def attack_summary(scores: np.ndarray, is_member: np.ndarray, fpr_levels=FPR_LEVELS) -> np.ndarray:
    """ROC AUC and the true-positive rate at each false-positive rate in ``fpr_levels``.

    The TPR at a FPR level is the highest TPR of any threshold whose FPR does not exceed
    the level (0 when none does).

    Parameters
    ----------
    scores : ndarray, shape (n,)
        Higher = the attacker says "member".
    is_member : ndarray, shape (n,), bool
        Both classes must be present.

    Returns
    -------
    ndarray, shape (1 + len(fpr_levels),), float64
        ``[auc, tpr@fpr_levels[0], ...]``.
    """
    fpr, tpr, _ = roc_curve(is_member, scores, drop_intermediate=False)
    auc = float(area_under(fpr, tpr))
    return np.array([auc] + [float(tpr[fpr <= level].max(initial=0.0)) for level in fpr_levels])


def bootstrap_attack(scores: np.ndarray, is_member: np.ndarray, *, n_resamples: int = 200,
                     random_state: int = 0, fpr_levels=FPR_LEVELS) -> np.ndarray:
    """95% percentile bootstrap intervals of :func:`attack_summary`.

    Members and non-members are resampled separately (stratified), so every resample keeps
    both class sizes.

    Returns
    -------
    ndarray, shape (1 + len(fpr_levels), 2), float64
        ``[[low, high], ...]`` in the order of :func:`attack_summary`.
    """
    rng = np.random.default_rng(random_state)
    members, others = np.flatnonzero(is_member), np.flatnonzero(~is_member)
    draws = np.empty((n_resamples, 1 + len(fpr_levels)))
    for i in range(n_resamples):
        rows = np.concatenate([rng.choice(members, len(members)), rng.choice(others, len(others))])
        draws[i] = attack_summary(scores[rows], is_member[rows], fpr_levels)
    return np.percentile(draws, [2.5, 97.5], axis=0).T


def roc_points(scores: np.ndarray, is_member: np.ndarray, n_points: int = 100) -> tuple[list, list]:
    """The ROC curve thinned to about ``n_points`` points (log-spaced FPR below 1%, linear above).

    Returns
    -------
    (list of float, list of float)
        False-positive and true-positive rates, both ascending, from (0, 0) to (1, 1).
    """
    fpr, tpr, _ = roc_curve(is_member, scores, drop_intermediate=False)
    grid = np.unique(np.concatenate([[0.0], np.logspace(-3, -2, n_points // 4, endpoint=False),
                                     np.linspace(0.01, 1.0, n_points - n_points // 4 - 1)]))
    rates = tpr[np.searchsorted(fpr, grid, side="right") - 1]  # best TPR at FPR <= each grid value
    return [round(float(v), 6) for v in grid], [round(float(v), 6) for v in rates]
