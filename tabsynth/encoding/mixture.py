"""A one-dimensional variational Dirichlet-process Gaussian mixture, vectorised in NumPy.

Mode-specific normalization (CTGAN, Xu et al. 2019, section 4.2) fits a variational
Gaussian mixture with a Dirichlet-process prior to every numerical column and keeps the
modes with non-negligible weight. This module fits exactly that model for one column:

* weights: truncated stick-breaking prior, ``v_k ~ Beta(1, alpha)`` (Blei & Jordan 2006,
  "Variational inference for Dirichlet process mixtures", Bayesian Analysis 1(1));
* each mode: a Normal-Gamma prior on mean and precision (the 1-D Normal-Wishart),
  ``mu_k | lambda_k ~ N(m0, 1 / (beta0 lambda_k))``, ``lambda_k ~ Gamma(nu0 / 2, rate = w0 / 2)``;
* mean-field updates (Bishop 2006, "Pattern Recognition and Machine Learning",
  section 10.2), iterated until the evidence lower bound changes by less than ``tol``.

The priors, the k-means start and the stopping rule are those of scikit-learn's
``BayesianGaussianMixture(weight_concentration_prior_type="dirichlet_process")`` with
its defaults (``m0`` = the data mean, ``beta0 = 1``, ``nu0 = 1``, ``w0`` = the data
variance), which SDV's and CTGAN's reference encoders use. Why our own: scikit-learn's
class is written for D dimensions and full covariance matrices; on one column it spent
~3 ms an iteration on Cholesky factors and validation, 1.3 s of a fit on Adult's six
numerical columns. Here an iteration is a few (n, k) array operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, digamma, gammaln

_LOG_2PI = np.log(2 * np.pi)


@dataclass(frozen=True)
class MixtureFit:
    """A fitted mixture: point estimates of its modes (all arrays ``(k,)`` float64).

    Attributes
    ----------
    weights : ndarray
        Expected stick-breaking weights, summing to 1.
    means : ndarray
        Posterior means of the mode centres.
    variances : ndarray
        ``w_k / nu_k``, the inverse of each mode's expected precision ``1 / E[lambda_k]``
        (what scikit-learn reports as ``covariances_``).
    n_iter : int
        Mean-field iterations run.
    converged : bool
        Whether the lower bound settled within ``tol`` before ``max_iter``.
    """

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    n_iter: int
    converged: bool


def fit_dirichlet_process_mixture(values: np.ndarray, n_components: int, rng: np.random.Generator, *,
                                  weight_concentration: float = 1e-3, max_iter: int = 100, tol: float = 1e-3,
                                  reg_variance: float = 1e-6, initial_labels: np.ndarray | None = None) -> MixtureFit:
    """Fit a truncated Dirichlet-process Gaussian mixture to one column by mean-field VI.

    Parameters
    ----------
    values : ndarray (n,)
        Finite numbers (no NaN), n >= 2.
    n_components : int
        Truncation level k, 1 <= k <= number of distinct values.
    rng : numpy.random.Generator
        Drives the k-means++ start; the fit is deterministic given its state.
    weight_concentration : float, default 1e-3
        The Dirichlet process's concentration ``alpha`` (small: few modes get weight).
    max_iter : int, default 100
    tol : float, default 1e-3
        Stop when the lower bound changes by less than this (in nats, whole data set).
    reg_variance : float, default 1e-6
        Added to every mode's within-mode variance, so a mode on one repeated value
        stays finite.
    initial_labels : ndarray (n,) of int in [0, k), optional
        The hard assignment the first M-step starts from; by default :func:`kmeans_1d`'s.

    Returns
    -------
    MixtureFit

    Raises
    ------
    ValueError
        If ``values`` has NaN/inf or fewer than 2 entries, or ``n_components`` is out of range.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(x) < 2 or not np.isfinite(x).all():
        raise ValueError("fit_dirichlet_process_mixture needs at least 2 finite values.")
    if not 1 <= n_components <= len(np.unique(x)):
        raise ValueError(f"n_components must be between 1 and the number of distinct values, got {n_components}.")
    prior = _Prior(mean=float(x.mean()), precision_scale=1.0, dof=1.0, scale=float(np.var(x, ddof=1)),
                   concentration=weight_concentration)
    labels = kmeans_1d(x, n_components, rng) if initial_labels is None else np.asarray(initial_labels)
    # Responsibilities are (k, n), modes by rows: the per-value reductions over modes then
    # combine k contiguous rows: on 5000 x 10, NumPy's sum is 8x and max 16x faster than
    # reducing a short last axis.
    resp = np.zeros((n_components, len(x)))
    resp[labels, np.arange(len(x))] = 1.0
    posterior = _Posterior.update(x, resp, prior, reg_variance)
    lower_bound, converged, iteration = -np.inf, False, 0
    for iteration in range(1, max_iter + 1):
        log_resp = posterior.log_responsibilities(x)
        posterior = _Posterior.update(x, np.exp(log_resp), prior, reg_variance)
        previous, lower_bound = lower_bound, posterior.lower_bound(log_resp)
        if abs(lower_bound - previous) < tol:
            converged = True
            break
    return MixtureFit(weights=posterior.expected_weights(), means=posterior.means,
                      variances=posterior.scale / posterior.dof, n_iter=iteration, converged=converged)


@dataclass(frozen=True)
class _Prior:
    mean: float            # m0
    precision_scale: float  # beta0
    dof: float             # nu0
    scale: float           # w0: the Gamma's rate is w0 / 2 (the 1-D inverse Wishart scale)
    concentration: float   # alpha


@dataclass(frozen=True)
class _Posterior:
    """Mean-field factors: Beta(a_k, b_k) sticks, Normal-Gamma(m_k, beta_k, nu_k, w_k) modes (all (k,))."""

    stick_a: np.ndarray
    stick_b: np.ndarray
    means: np.ndarray
    precision_scale: np.ndarray
    dof: np.ndarray
    scale: np.ndarray

    @classmethod
    def update(cls, x: np.ndarray, resp: np.ndarray, prior: _Prior, reg_variance: float) -> "_Posterior":
        """The M-step (Bishop eqs. 10.60-10.63; sticks per Blei & Jordan): factors given
        responsibilities ``resp`` (k, n)."""
        counts = resp.sum(axis=1) + 10 * np.finfo(resp.dtype).eps  # (k,)
        centres = resp @ x / counts
        spreads = np.einsum("kn,kn->k", resp, (x[None, :] - centres[:, None]) ** 2) / counts + reg_variance
        # Mass of the components after k: what the stick of k leaves to its successors.
        after = np.concatenate([np.cumsum(counts[::-1])[-2::-1], [0.0]])
        precision_scale = prior.precision_scale + counts
        means = (prior.precision_scale * prior.mean + counts * centres) / precision_scale
        dof = prior.dof + counts
        scale = (prior.scale + counts * spreads
                 + counts * prior.precision_scale / precision_scale * (centres - prior.mean) ** 2)
        return cls(stick_a=1.0 + counts, stick_b=prior.concentration + after, means=means,
                   precision_scale=precision_scale, dof=dof, scale=scale)

    def _expected_log_weights(self) -> np.ndarray:
        """E[log pi_k] under the stick-breaking factors, (k,)."""
        digamma_total = digamma(self.stick_a + self.stick_b)
        log_stick = digamma(self.stick_a) - digamma_total
        log_rest = digamma(self.stick_b) - digamma_total
        return log_stick + np.concatenate([[0.0], np.cumsum(log_rest)[:-1]])

    def log_responsibilities(self, x: np.ndarray) -> np.ndarray:
        """The E-step (Bishop eqs. 10.64-10.66): log q(mode | x), ``(n,)`` -> ``(k, n)``."""
        precision = self.dof / self.scale  # E[lambda_k]
        expected_log_precision = np.log(2.0) + digamma(0.5 * self.dof) - np.log(self.scale)
        offset = (0.5 * (expected_log_precision - 1.0 / self.precision_scale - _LOG_2PI)
                  + self._expected_log_weights())
        log_prob = (x[None, :] - self.means[:, None]) ** 2
        log_prob *= -0.5 * precision[:, None]
        log_prob += offset[:, None]
        return log_prob - _logsumexp_over_rows(log_prob)

    def lower_bound(self, log_resp: np.ndarray) -> float:
        """Evidence lower bound up to a constant that does not change between iterations
        (the terms scikit-learn's ``BayesianGaussianMixture`` tracks)."""
        log_precision_root = -0.5 * np.log(self.scale)  # log sqrt(1 / w_k): the Gamma's log-scale
        log_gamma_norm = -(self.dof * log_precision_root + 0.5 * self.dof * np.log(2.0) + gammaln(0.5 * self.dof))
        entropy = -np.sum(np.exp(log_resp) * log_resp)
        return float(entropy - log_gamma_norm.sum() + betaln(self.stick_a, self.stick_b).sum()
                     - 0.5 * np.log(self.precision_scale).sum())

    def expected_weights(self) -> np.ndarray:
        """E[pi_k] (Blei & Jordan), normalised over the truncation, (k,)."""
        total = self.stick_a + self.stick_b
        rest = self.stick_b / total
        weights = self.stick_a / total * np.concatenate([[1.0], np.cumprod(rest[:-1])])
        return weights / weights.sum()


def _logsumexp_over_rows(a: np.ndarray) -> np.ndarray:
    """``log(sum(exp(a), axis=0))`` of a finite (k, n) array, as (1, n)."""
    top = a.max(axis=0, keepdims=True)
    return top + np.log(np.exp(a - top).sum(axis=0, keepdims=True))


def kmeans_1d(x: np.ndarray, k: int, rng: np.random.Generator, max_iter: int = 300) -> np.ndarray:
    """Lloyd's k-means on one column from a greedy k-means++ start; labels ``(n,)`` int.

    Arthur & Vassilvitskii (2007), "k-means++: the advantages of careful seeding", with
    ``2 + log k`` candidate centres per pick (the greedy variant scikit-learn uses).
    Requires ``k`` <= the number of distinct values (so every pick has positive distance).
    """
    n = len(x)
    trials = 2 + int(np.log(k))
    centres = [x[rng.integers(n)]]
    closest = (x - centres[0]) ** 2
    for _ in range(1, k):
        cdf = np.cumsum(closest)
        candidates = x[np.minimum(np.searchsorted(cdf, rng.random(trials) * cdf[-1]), n - 1)]
        potentials = np.minimum(closest[None, :], (x[None, :] - candidates[:, None]) ** 2)  # (trials, n)
        best = int(np.argmin(potentials.sum(axis=1)))
        centres.append(candidates[best])
        closest = potentials[best]
    centres = np.asarray(centres)
    labels = np.full(n, -1)
    for _ in range(max_iter):
        new_labels = np.argmin((x[:, None] - centres[None, :]) ** 2, axis=1)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        counts = np.bincount(labels, minlength=k)
        sums = np.bincount(labels, weights=x, minlength=k)
        # A centre that lost all its points stays where it is.
        centres = np.where(counts > 0, sums / np.maximum(counts, 1), centres)
    return labels
