"""Empirical privacy audit: a lower bound on epsilon from canaries, to set beside the claimed one.

One-run auditing (Steinke, Nasr & Jagielski 2023, "Privacy Auditing with One (1) Training
Run"): ``m`` canary records are made, each put into the training table independently with
probability 1/2, and one model is fitted. The auditor scores every canary, guesses
"included" for the highest scores and "excluded" for the lowest (abstaining on the rest),
and counts its correct guesses. Under (epsilon, delta)-DP the count of correct guesses
among ``r`` is dominated by a Binomial(r, e^eps / (1 + e^eps)) up to a delta term (their
Theorem 3.3); the largest epsilon that this count rejects at 95% confidence is a lower
bound on the true epsilon. A correct DP fit therefore gives a bound at or below its claim
(with probability 95%), while a broken one (no noise, no clipping) gives one far above.

Two scores, both Bonferroni-corrected together with the guess counts tried:

* white box: the model's own log-likelihood of each canary (the fitted model is released,
  so an attacker may read it);
* black box: minus the distance of each canary to its nearest synthetic row (matching
  cells of the discrete view), for an attacker who sees only the synthetic table.

Canaries are uniformly random rows over each column's values (independent columns), so
nothing in the real table predicts them.

The two-run variant (Jagielski, Ullman & Oprea 2020) instead compares scores under two
fits, with and without the canaries, through Clopper-Pearson intervals on the error rates
(:func:`two_run_lower_bound`).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import beta as beta_distribution
from scipy.stats import binom

# What :func:`broken_dp_sgd` sets, read by :class:`~tabsynth.privacy.dpsgd.DPSGD` (tests and
# audits of the audit only: a fit under it is NOT private, whatever its ledger says).
_BROKEN: dict[str, bool] = {}


@contextmanager
def broken_dp_sgd(*, noise: bool = True, clipping: bool = True):
    """Deliberately break DP-SGD inside this block (to show that the audit has power).

    ``noise=False`` removes the Gaussian noise; ``clipping=False`` stops clipping the
    per-example gradients (the noise keeps the size calibrated for the clipping norm).
    The ledger still states the claim, which is the point: the audit must catch the lie.
    """
    previous = dict(_BROKEN)
    _BROKEN.update({k: False for k, on in (("noise", noise), ("clipping", clipping)) if not on})
    try:
        yield
    finally:
        _BROKEN.clear()
        _BROKEN.update(previous)


# ---------------------------------------------------------------------- the statistics
def one_run_p_value(m: int, guesses: int, correct: int, epsilon: float, delta: float) -> float:
    """P[at least ``correct`` right out of ``guesses``] under (epsilon, delta)-DP with ``m`` canaries.

    Steinke, Nasr & Jagielski (2023), Theorem 3.3: the Binomial(r, q) tail, q = e^eps / (1 + e^eps),
    plus ``2 m delta`` times the largest average mass ``P[v - i <= Binomial < v] / i``.
    """
    q = 1.0 / (1.0 + math.exp(-epsilon))
    tail = float(binom.sf(correct - 1, guesses, q))
    below = binom.pmf(np.arange(correct - 1, -1, -1), guesses, q)  # P[B = v-1], P[B = v-2], ..., P[B = 0]
    spread = float(np.max(np.cumsum(below) / np.arange(1, correct + 1))) if correct > 0 else 0.0
    return min(1.0, tail + 2.0 * m * delta * spread)


def one_run_lower_bound(m: int, guesses: int, correct: int, delta: float, alpha: float) -> float:
    """Largest epsilon rejected at level ``alpha`` (0 when none is): the audit's lower bound."""
    if guesses == 0 or one_run_p_value(m, guesses, correct, 0.0, delta) >= alpha:
        return 0.0
    low, high = 0.0, 1.0
    while one_run_p_value(m, guesses, correct, high, delta) < alpha:
        low, high = high, 2 * high
        if high > 100:
            return low
    for _ in range(40):
        middle = (low + high) / 2
        if one_run_p_value(m, guesses, correct, middle, delta) < alpha:
            low = middle
        else:
            high = middle
    return low


def two_run_lower_bound(scores_in: np.ndarray, scores_out: np.ndarray, delta: float, alpha: float = 0.05) -> float:
    """Epsilon lower bound from canary scores of a fit with them and one without (Clopper-Pearson).

    The threshold test "score above t" is tried at every observed score; its false
    positive and negative rates get one-sided Clopper-Pearson upper bounds at level
    ``alpha / 2`` each, Bonferroni-corrected over the thresholds, and
    ``eps >= log((1 - delta - FNR) / FPR)`` (Kairouz et al. 2015 hypothesis-testing view).
    """
    scores_in, scores_out = np.asarray(scores_in, float), np.asarray(scores_out, float)
    thresholds = np.unique(np.concatenate([scores_in, scores_out]))
    level = alpha / 2 / max(len(thresholds), 1)
    best = 0.0
    for t in thresholds:
        false_positives, false_negatives = int((scores_out >= t).sum()), int((scores_in < t).sum())
        fpr = _clopper_pearson_upper(false_positives, len(scores_out), level)
        fnr = _clopper_pearson_upper(false_negatives, len(scores_in), level)
        if fpr > 0 and 1 - delta - fnr > 0:
            best = max(best, math.log((1 - delta - fnr) / fpr))
    return best


def _clopper_pearson_upper(k: int, n: int, level: float) -> float:
    return 1.0 if k >= n else float(beta_distribution.ppf(1 - level, k + 1, n - k))


@dataclass
class AttackResult:
    """One attack's best guess count and the bound it gives."""

    attack: str
    guesses: int
    correct: int
    epsilon_lower_bound: float


def audit_scores(scores: np.ndarray, included: np.ndarray, *, delta: float, alpha: float, attack: str,
                 guess_counts: list[int]) -> list[AttackResult]:
    """Bounds for each guess count: top ``r/2`` scores guessed in, bottom ``r/2`` out.

    ``alpha`` is the level of each test (the caller divides the overall level by the
    number of tests).
    """
    m = len(scores)
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    results = []
    for r in guess_counts:
        top, bottom = order[: r // 2], order[m - (r - r // 2):] if r - r // 2 else order[:0]
        correct = int(included[top].sum() + (~included[bottom]).sum())
        results.append(AttackResult(attack, r, correct, one_run_lower_bound(m, r, correct, delta, alpha)))
    return results


# ---------------------------------------------------------------------- canaries and scores
def make_canaries(real: pd.DataFrame, metadata, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` rows drawn uniformly and independently per column over that column's values.

    Categorical: a uniform distinct value; numerical / datetime: a uniform value in the
    column's range (rounded like the column); id / key: fresh values beyond the table's.
    """
    columns = {}
    for meta in metadata:
        series = real[meta.name]
        present = series.dropna()
        if meta.kind in ("id", "key"):
            columns[meta.name] = (np.arange(n) + 10**9) if meta.is_integer else [f"canary-{i}" for i in range(n)]
        elif meta.kind == "numerical":
            numbers = pd.to_numeric(present).to_numpy(dtype=float)
            values = rng.uniform(numbers.min(), numbers.max(), n)
            columns[meta.name] = np.round(values).astype(series.dtype) if meta.is_integer else values
        elif meta.kind == "datetime":
            stamps = pd.to_datetime(present)
            low, high = stamps.min().value, stamps.max().value
            columns[meta.name] = pd.to_datetime(rng.uniform(low, high, n).astype("int64")).floor("D")
            if series.dtype == object:
                columns[meta.name] = pd.Series(columns[meta.name]).dt.strftime(meta.datetime_format or "%Y-%m-%d")
        else:
            distinct = present.drop_duplicates().to_numpy(dtype=object)
            columns[meta.name] = distinct[rng.integers(0, len(distinct), n)]
    frame = pd.DataFrame(columns)
    for name in frame.columns:
        if real[name].dtype != object and frame[name].dtype != real[name].dtype:
            try:
                frame[name] = frame[name].astype(real[name].dtype)
            except (TypeError, ValueError):
                pass
    return frame


def nearest_synthetic_distance(model, canaries: pd.DataFrame, synthetic: pd.DataFrame) -> np.ndarray:
    """``(m,)`` distance of each canary to its nearest synthetic row, in the model's own encoding:
    cells that differ for a token table (the discrete view), L1 distance for the continuous view."""
    import torch

    a = torch.as_tensor(model.encoder_.transform(canaries))
    b = torch.as_tensor(model.encoder_.transform(synthetic))
    if hasattr(model.encoder_, "token_indices"):  # one token per cell: a number's fine token is not a cell
        cells = torch.as_tensor([model.encoder_.token_indices(c)[0] for c in model.encoder_.columns_], dtype=torch.long)
        a, b = a[:, cells], b[:, cells]
    if a.is_floating_point():
        best = torch.full((len(a),), float("inf"), dtype=a.dtype)
        for start in range(0, len(b), 2048):
            best = torch.minimum(best, torch.cdist(a, b[start : start + 2048], p=1).min(1).values)
        return best.double().numpy()
    best = torch.full((len(a),), a.shape[1], dtype=torch.long)
    for start in range(0, len(b), 2048):
        chunk = b[start : start + 2048]
        best = torch.minimum(best, (a[:, None, :] != chunk[None, :, :]).sum(-1).min(1).values)
    return best.numpy()


@dataclass
class AuditReport:
    """The audit's outcome (``audit.json``)."""

    model: str
    claimed_epsilon: float
    claimed_delta: float
    canaries: int
    included: int
    confidence: float
    epsilon_lower_bound: float
    best_attack: str
    attacks: list[dict]
    broken: dict
    training_rows: int
    seconds: float

    @property
    def consistent(self) -> bool:
        """The empirical bound does not exceed the claim."""
        return self.epsilon_lower_bound <= self.claimed_epsilon

    def to_dict(self) -> dict:
        return {**asdict(self), "consistent": self.consistent}


# Training settings that favour memorisation (the audit looks for the worst case): a small
# table, many epochs, small batches, no dropout.
AUDIT_ROWS = 500
AUDIT_PARAMS = {
    "autoregressive": {"epochs": 100, "batch_size": 64, "dropout": 0.0, "learning_rate": 3e-3},
    "tvae": {"epochs": 100, "batch_size": 64, "learning_rate": 3e-3},
    "ctgan": {"epochs": 50, "batch_size": 64},
}


def run_audit(real: pd.DataFrame, *, model: str = "autoregressive", epsilon: float = 1.0, delta: float = 1e-5,
              canaries: int = 1000, rows: int = AUDIT_ROWS, epochs: int | None = None, confidence: float = 0.95,
              random_state: int = 0, verbose: bool = False) -> AuditReport:
    """Fit a DP model on ``real`` plus Bernoulli(1/2) canaries and bound epsilon from below.

    The audit checks the DP implementation (every mechanism and DP-SGD as they run), not one
    particular fit: it trains on ``rows`` rows of ``real`` with settings that favour
    memorisation (:data:`AUDIT_PARAMS`), declares the schema public (categories and bounds,
    so that canaries keep their values), and attacks with the canaries. A DP guarantee holds
    for every table and every hyperparameter, so these choices only make the audit stronger.

    Parameters
    ----------
    real : DataFrame
        Real rows (a seeded sample of ``rows`` of them is used; canaries are added).
    model : str
        A model with a DP mode: ``"autoregressive"``, ``"tvae"`` or ``"ctgan"``; its
        ``membership_scores`` (log-likelihood, ELBO, critic score) are the white-box attack.
    epsilon, delta : float
        The claim: the fit's DPConfig.
    canaries : int
        ``m``, at least 10.
    rows : int, default 500
    epochs : int or None
        Overrides the epochs of :data:`AUDIT_PARAMS`.
    confidence : float, default 0.95
    random_state : int

    Returns
    -------
    AuditReport

    Raises
    ------
    ValueError
        For a model without a DP mode, fewer than 10 canaries, or a bad claim.
    """
    import time

    from tabsynth.metadata import Metadata
    from tabsynth.models import MODELS
    from tabsynth.privacy.config import DPConfig

    if canaries < 10:
        raise ValueError(f"--canaries must be at least 10 (a handful of guesses bounds nothing), got {canaries}.")
    cls = MODELS.get(model)
    if cls is None or model not in AUDIT_PARAMS:
        raise ValueError(f"The audit runs on models with a DP mode ({sorted(AUDIT_PARAMS)}); got '{model}'.")
    start = time.perf_counter()
    rng = np.random.default_rng(random_state)
    schema = Metadata.infer(real)
    pool = make_canaries(real, schema, canaries, rng)
    included = rng.random(canaries) < 0.5
    real = real.sample(min(rows, len(real)), random_state=random_state).reset_index(drop=True)
    training = pd.concat([real, pool[included]], ignore_index=True)
    params = {**AUDIT_PARAMS[model], "random_state": random_state, "verbose": verbose,
              "dp": DPConfig(epsilon=epsilon, delta=delta)}
    if epochs is not None:
        params["epochs"] = epochs
    # The audit declares the schema with every category and bound public (free of budget), so
    # canaries keep their values in the model's view and only the noisy mechanisms are tested.
    fitted = cls(**params).fit(training, metadata=Metadata.infer(training))
    white = np.asarray(fitted.membership_scores(pool), dtype=float)
    synthetic = fitted.sample(len(training), random_state=random_state + 1)
    black = -nearest_synthetic_distance(fitted, pool, synthetic).astype(float)
    counts = sorted({max(2, int(canaries * share)) for share in (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)} - {0})
    counts = [r for r in counts if r <= canaries]
    alpha = (1 - confidence) / (2 * len(counts))  # Bonferroni over both attacks and every guess count
    results = (audit_scores(white, included, delta=delta, alpha=alpha, attack="white-box model score",
                            guess_counts=counts)
               + audit_scores(black, included, delta=delta, alpha=alpha, attack="black-box nearest synthetic row",
                              guess_counts=counts))
    best = max(results, key=lambda r: r.epsilon_lower_bound)
    return AuditReport(model=model, claimed_epsilon=float(fitted.privacy_["epsilon"]), claimed_delta=delta,
                       canaries=canaries, included=int(included.sum()), confidence=confidence,
                       epsilon_lower_bound=best.epsilon_lower_bound, best_attack=best.attack,
                       attacks=[asdict(r) for r in results], broken=dict(_BROKEN), training_rows=len(training),
                       seconds=time.perf_counter() - start)
