"""The one-column Dirichlet-process mixture of mode-specific normalization, on real columns.

Reference: scikit-learn's ``BayesianGaussianMixture`` with the same priors, which the
encoder used before (and which SDV's and CTGAN's reference encoders use).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.cluster import KMeans
from sklearn.mixture import BayesianGaussianMixture

from tabsynth.encoding.mixture import fit_dirichlet_process_mixture, kmeans_1d

# (table fixture, column): smooth, multi-modal, point mass at 0 with a long tail, skewed.
COLUMNS = [("adult_train", "age"), ("adult_train", "fnlwgt"), ("adult_train", "capital-gain"),
           ("adult_train", "hours-per-week"), ("shoppers", "PageValues"), ("credit", "PAY_AMT1")]


def _column(request, table: str, column: str, seed: int, n: int = 4000) -> np.ndarray:
    values = request.getfixturevalue(table)[column].dropna().to_numpy(dtype=float)
    return np.random.default_rng(seed).choice(values, n, replace=False)


def _sklearn(x: np.ndarray, k: int, seed: int) -> BayesianGaussianMixture:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BayesianGaussianMixture(n_components=k, weight_concentration_prior_type="dirichlet_process",
                                       weight_concentration_prior=1e-3, max_iter=100,
                                       random_state=seed).fit(x.reshape(-1, 1))


@pytest.mark.parametrize("table, column", COLUMNS)
def test_same_start_gives_scikit_learns_mixture(request, table, column):
    """From scikit-learn's own k-means start, the mean-field updates and the stopping rule
    reproduce its fitted weights, means and variances."""
    x = _column(request, table, column, seed=0)
    reference = _sklearn(x, 10, seed=7)
    start = KMeans(n_clusters=10, n_init=1, random_state=7).fit(x.reshape(-1, 1)).labels_
    ours = fit_dirichlet_process_mixture(x, 10, np.random.default_rng(0), initial_labels=start)
    assert ours.n_iter == reference.n_iter_
    np.testing.assert_allclose(ours.weights, reference.weights_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours.means, reference.means_[:, 0], rtol=1e-6, atol=1e-6 * x.std())
    np.testing.assert_allclose(ours.variances, reference.covariances_.reshape(-1), rtol=1e-6)


def _held_out_log_likelihood(x, weights, means, variances) -> float:
    density = (weights * norm.pdf(x[:, None], means, np.sqrt(variances))).sum(axis=1)
    return float(np.mean(np.log(density + 1e-300)))


@pytest.mark.parametrize("table, column", COLUMNS)
def test_own_start_fits_as_well_as_scikit_learn(request, table, column):
    """With its own k-means++ start the fit explains held-out values as well as scikit-learn's."""
    x, held_out = _column(request, table, column, seed=0), _column(request, table, column, seed=1)
    reference = _sklearn(x, 10, seed=7)
    ours = fit_dirichlet_process_mixture(x, 10, np.random.default_rng(7))
    theirs = _held_out_log_likelihood(held_out, reference.weights_, reference.means_[:, 0],
                                      reference.covariances_.reshape(-1))
    mine = _held_out_log_likelihood(held_out, ours.weights, ours.means, ours.variances)
    assert mine > theirs - 0.01  # nats per value
    assert ours.weights.sum() == pytest.approx(1.0) and (ours.variances > 0).all()


def test_fit_is_deterministic_given_the_generator(adult_train):
    x = adult_train["hours-per-week"].to_numpy(dtype=float)[:3000]
    first = fit_dirichlet_process_mixture(x, 10, np.random.default_rng(3))
    second = fit_dirichlet_process_mixture(x, 10, np.random.default_rng(3))
    np.testing.assert_array_equal(first.means, second.means)
    np.testing.assert_array_equal(first.weights, second.weights)


def test_few_distinct_values(adult_train):
    """capital-loss restricted to {0, 1902}: two distinct values, two modes, one on each
    (the rare one's centre shrinks a little toward the data mean: the Normal prior, beta0 = 1)."""
    x = adult_train["capital-loss"].to_numpy(dtype=float)
    x = x[(x == 0) | (x == 1902)][:3000]
    fit = fit_dirichlet_process_mixture(x, 2, np.random.default_rng(0))
    assert sorted(fit.means[fit.weights > 0.005]) == pytest.approx([0.0, 1902.0], rel=0.05, abs=1.0)
    single = fit_dirichlet_process_mixture(x, 1, np.random.default_rng(0))
    assert single.weights.tolist() == [1.0] and single.means[0] == pytest.approx(x.mean(), rel=1e-3)


def test_kmeans_1d_separates_clear_clusters(adult_train):
    """Adult ages split at a gap: every label is one side of it."""
    ages = adult_train["age"].to_numpy(dtype=float)
    x = np.concatenate([ages[ages < 30][:500], ages[ages > 60][:500]])
    labels = kmeans_1d(x, 2, np.random.default_rng(0))
    assert len(set(labels[:500])) == 1 and len(set(labels[500:])) == 1 and labels[0] != labels[-1]


@pytest.mark.parametrize("values, k, message", [
    (np.array([1.0, np.nan, 2.0]), 1, "finite"),
    (np.array([3.0]), 1, "at least 2"),
    (np.array([1.0, 1.0, 2.0]), 3, "distinct values"),
])
def test_bad_input_is_refused(values, k, message):
    with pytest.raises(ValueError, match=message):
        fit_dirichlet_process_mixture(values, k, np.random.default_rng(0))
