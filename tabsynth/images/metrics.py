"""Pure functions of the image evaluation: Frechet distance, precision / recall / density /
coverage, nearest-neighbour distances (memorisation, membership inference).

Inputs are feature or pixel matrices ``(N, D)`` (numpy, float); nothing here trains or reads files.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (Heusel et al. 2017, "FID").

    ``||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``; here on the reference CNN's
    features instead of Inception's (so values are not comparable with published FIDs, only
    with the real-vs-real floor computed the same way).

    Parameters
    ----------
    a, b : ndarray float (N_a, D), (N_b, D)

    Returns
    -------
    float >= 0
    """
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    # tr((S_a S_b)^(1/2)) = sum of the square roots of the eigenvalues of S_a S_b, which are real
    # and >= 0 (a product of two covariance matrices); clipping the round-off keeps it stable
    # where a matrix square root warns on singular covariances (constant border pixels).
    eigenvalues = np.linalg.eigvals(cov_a @ cov_b).real.clip(min=0.0)
    trace_root = float(np.sqrt(eigenvalues).sum())
    return float(max(0.0, ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root))


def pairwise_distances(a: np.ndarray, b: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Euclidean distances ``(N_a, N_b)`` float32, computed in chunks with torch's ``cdist``."""
    tb = torch.as_tensor(b, dtype=torch.float32)
    out = np.empty((len(a), len(b)), dtype=np.float32)
    for start in range(0, len(a), chunk):
        ta = torch.as_tensor(a[start:start + chunk], dtype=torch.float32)
        out[start:start + chunk] = torch.cdist(ta, tb).numpy()
    return out


def nearest_distances(queries: np.ndarray, reference: np.ndarray, k: int = 1, exclude_self: bool = False,
                      chunk: int = 2048) -> np.ndarray:
    """Distance of each query to its k-th nearest reference point, float64 (N_q,).

    ``exclude_self``: queries are the reference itself, so the zero self-distance is skipped.
    """
    tb = torch.as_tensor(reference, dtype=torch.float32)
    out = np.empty(len(queries))
    rank = k + 1 if exclude_self else k
    for start in range(0, len(queries), chunk):
        ta = torch.as_tensor(queries[start:start + chunk], dtype=torch.float32)
        out[start:start + chunk] = torch.cdist(ta, tb).topk(rank, dim=1, largest=False).values[:, -1].double().numpy()
    return out


def precision_recall_density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage with k-nearest-neighbour balls (Naeem, Oh, Uh, Choi
    & Yoo 2020, "Reliable Fidelity and Diversity Metrics for Generative Models"; precision and
    recall as Kynkaanniemi et al. 2019).

    * precision: share of fake points inside some real point's k-NN ball (ideal 1);
    * recall: share of real points inside some fake point's k-NN ball (ideal 1);
    * density: mean number of real balls holding each fake point, over k (about 1 when the
      distributions match);
    * coverage: share of real points whose ball holds at least one fake point (ideal 1).

    Parameters
    ----------
    real, fake : ndarray float (N_r, D), (N_f, D)
    k : int, default 5

    Returns
    -------
    dict with keys "precision", "recall", "density", "coverage"
    """
    real_radii = nearest_distances(real, real, k=k, exclude_self=True)  # (N_r,)
    fake_radii = nearest_distances(fake, fake, k=k, exclude_self=True)  # (N_f,)
    distances = pairwise_distances(real, fake)  # (N_r, N_f)
    inside_real = distances < real_radii[:, None]  # fake j inside real i's ball
    inside_fake = distances < fake_radii[None, :]  # real i inside fake j's ball
    return {"precision": float(inside_real.any(0).mean()), "recall": float(inside_fake.any(1).mean()),
            "density": float(inside_real.sum(0).mean() / k), "coverage": float(
                (distances.min(1) < real_radii).mean())}


def memorisation(train: np.ndarray, test: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """How much closer generated images are to the training images than fresh real ones are.

    Meehan, Chaudhuri & Dasgupta (2020), "A Non-Parametric Test to Detect Data-Copying in
    Generative Models": the distances of generated points to their nearest training point
    against those of held-out real points. Reported: both medians, their ratio (1 ideal;
    well below 1 means copying), the Mann-Whitney z statistic of the two samples (Meehan's
    Z_U without cells: strongly negative = data copying, strongly positive = underfitting)
    and the count of near-duplicates: generated images closer to a training image than the
    closest any held-out real image comes.

    Parameters
    ----------
    train, test, fake : ndarray float (N, D)  pixels or features, one row per image

    Returns
    -------
    dict: "fake_median", "test_median", "median_ratio", "z_u", "near_duplicates", "duplicate_threshold"
    """
    from scipy.stats import mannwhitneyu

    fake_d = nearest_distances(fake, train)
    test_d = nearest_distances(test, train)
    u = mannwhitneyu(fake_d, test_d, alternative="two-sided").statistic
    n, m = len(fake_d), len(test_d)
    z = (u - n * m / 2) / np.sqrt(n * m * (n + m + 1) / 12)
    threshold = float(test_d.min())
    return {"fake_median": float(np.median(fake_d)), "test_median": float(np.median(test_d)),
            "median_ratio": float(np.median(fake_d) / max(np.median(test_d), 1e-12)), "z_u": float(z),
            "near_duplicates": int((fake_d < threshold).sum()), "duplicate_threshold": threshold}


def distance_membership_auc(members: np.ndarray, non_members: np.ndarray, fake: np.ndarray) -> float:
    """ROC AUC of the black-box distance attack: a record closer to its nearest generated image is
    guessed a training member (as the tables' DCR attack). 0.5 ideal: members are no closer
    than non-members.

    Parameters
    ----------
    members : ndarray (N_m, D)      training images
    non_members : ndarray (N_n, D)  real images the generator never saw
    fake : ndarray (N_f, D)         generated images
    """
    scores = -np.concatenate([nearest_distances(members, fake), nearest_distances(non_members, fake)])
    truth = np.concatenate([np.ones(len(members)), np.zeros(len(non_members))])
    return float(roc_auc_score(truth, scores))
