"""The privacy ledger: every mechanism a fit runs on real rows, composed by one accountant.

Each mechanism is a Gaussian mechanism (noisy counts and histograms, with L2 sensitivity
``sensitivity`` and noise standard deviation ``noise_std``) or DP-SGD (a Poisson-sampled
Gaussian repeated for its steps, Abadi et al. 2016). Google's ``dp-accounting`` library
composes them with its privacy-loss-distribution (PLD) accountant (Koskela et al. 2020;
Doroshenko et al. 2022, "Connect the Dots"), which is tight for exactly these events.

Partition selection (releasing only the values whose noisy count crosses a threshold)
adds to delta the probability that a value held by a single row crosses it; that share
is fixed in advance (:attr:`DPConfig.threshold_delta`) and added to the accountant's
delta, as in Wilkins, Kifer, Zhang & Karrer (2024), "Exact Privacy Analysis of the
Gaussian Sparse Histogram Mechanism" (the simple bound, which their exact one improves).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field

import dp_accounting
from dp_accounting.pld import PLDAccountant

from tabsynth.privacy.config import DPConfig

ACCOUNTANT = "PLD (dp-accounting)"
# PLD discretisation; 1e-4 keeps epsilon within about 1e-3 of the exact value.
_PLD_INTERVAL = 1e-4


@dataclass
class Mechanism:
    """One DP mechanism run on the training rows.

    Attributes
    ----------
    name : str
        What it releases ("row count", "category set", "point masses", "quantile bins",
        "rows per key", "DP-SGD").
    columns : list of str
        The columns it reads.
    noise_std : float
        Standard deviation of the Gaussian noise, in counts (for DP-SGD: noise multiplier
        times the clipping norm, in gradient units).
    sensitivity : float
        L2 sensitivity of what is noised (1 for a histogram a row adds one count to; the
        clipping norm for DP-SGD).
    steps : int
        Times it runs (DP-SGD's optimiser steps; 1 otherwise).
    sample_rate : float or None
        Poisson sampling rate of each run (DP-SGD), None for full-data mechanisms.
    threshold : float or None
        Release threshold of partition selection, in counts.
    threshold_delta : float
        Its contribution to delta (the chance a value held by one row crosses ``threshold``).
    epsilon_alone : float
        Epsilon of this mechanism by itself at the ledger's accountant delta (filled in by
        :meth:`PrivacyLedger.add`).
    part : str
        The model of a composite fit that ran it ("parent", "child.<table>"), "" otherwise.
    """

    name: str
    columns: list[str]
    noise_std: float
    sensitivity: float = 1.0
    steps: int = 1
    sample_rate: float | None = None
    threshold: float | None = None
    threshold_delta: float = 0.0
    epsilon_alone: float = field(default=float("nan"))
    part: str = ""

    @property
    def noise_multiplier(self) -> float:
        """Noise standard deviation over sensitivity (the Gaussian mechanism's z)."""
        return self.noise_std / self.sensitivity

    def event(self) -> dp_accounting.DpEvent:
        """The ``dp-accounting`` event of this mechanism."""
        gaussian = dp_accounting.GaussianDpEvent(self.noise_multiplier)
        one_run = gaussian if self.sample_rate is None else dp_accounting.PoissonSampledDpEvent(
            self.sample_rate, gaussian)
        return one_run if self.steps == 1 else dp_accounting.SelfComposedDpEvent(one_run, self.steps)


class PrivacyLedger:
    """The mechanisms of one fit and their total (epsilon, delta).

    Parameters
    ----------
    config : DPConfig

    Examples
    --------
    >>> ledger = PrivacyLedger(DPConfig(epsilon=1.0))
    >>> ledger.add(Mechanism("row count", [], noise_std=50.0))  # doctest: +SKIP
    >>> ledger.epsilon()                                          # doctest: +SKIP
    """

    def __init__(self, config: DPConfig, neighbouring: str = "add or remove one row"):
        self.config = config
        self.neighbouring = neighbouring
        self.mechanisms: list[Mechanism] = []

    def stage(self, config: DPConfig) -> "PrivacyLedger":
        """A view of this ledger with another target: it shares (and adds to) the same
        mechanisms, and calibration against it composes with everything recorded so far.
        One budget spent in stages by several models (see ``ParentChild``)."""
        view = PrivacyLedger(config, self.neighbouring)
        view.mechanisms = self.mechanisms
        return view

    def add(self, mechanism: Mechanism) -> Mechanism:
        """Record ``mechanism`` (computing its own epsilon) and return it."""
        mechanism.epsilon_alone = compose_epsilon([mechanism.event()], self.config.accountant_delta)
        self.mechanisms.append(mechanism)
        return mechanism

    def events(self) -> list[dp_accounting.DpEvent]:
        return [m.event() for m in self.mechanisms]

    def epsilon(self) -> float:
        """Epsilon of all recorded mechanisms composed, at the accountant's delta."""
        return compose_epsilon(self.events(), self.config.accountant_delta)

    @property
    def threshold_delta(self) -> float:
        return sum(m.threshold_delta for m in self.mechanisms)

    @property
    def delta(self) -> float:
        """Total delta: the accountant's plus what partition selection spent."""
        return self.config.accountant_delta + self.threshold_delta

    def to_dict(self) -> dict:
        """The ``privacy.json`` document: totals, the accountant and every mechanism."""
        return {
            "epsilon": self.epsilon(),
            "delta": self.delta,
            "target_epsilon": self.config.epsilon,
            "target_delta": self.config.delta,
            "accountant": ACCOUNTANT,
            "accountant_delta": self.config.accountant_delta,
            "partition_selection_delta": self.threshold_delta,
            "neighbouring": self.neighbouring,
            "mechanisms": [{**asdict(m), "noise_multiplier": m.noise_multiplier} for m in self.mechanisms],
        }

    def summary(self) -> str:
        """Several lines for the command line: one per mechanism kind, then the total."""
        lines = []
        groups: dict[str, list[Mechanism]] = {}
        for m in self.mechanisms:
            groups.setdefault(m.name, []).append(m)
        for name, members in groups.items():
            columns = sorted({c for m in members for c in m.columns})
            eps = compose_epsilon([m.event() for m in members], self.config.accountant_delta)
            # a few are named (an image model's "label, pixels"); a table's many are counted
            where = ""
            if 1 <= len(columns) <= 3:
                where = f" on {', '.join(columns)}"
            elif columns:
                where = f" on {len(columns)} columns"
            lines.append(f"  {name}{where}: epsilon {eps:.3f} alone")
        lines.append(f"  total ({ACCOUNTANT}): epsilon {self.epsilon():.3f}, delta {self.delta:.2e} "
                     f"(target {self.config.epsilon:g}, {self.config.delta:.0e})")
        return "\n".join(lines)


def compose_epsilon(events: list[dp_accounting.DpEvent], delta: float) -> float:
    """Epsilon at ``delta`` of ``events`` composed by the PLD accountant (0 for no event)."""
    if not events:
        return 0.0
    accountant = PLDAccountant(value_discretization_interval=_PLD_INTERVAL)
    accountant.compose(dp_accounting.ComposedDpEvent(events))
    return float(accountant.get_epsilon(delta))


def zcdp_budget(epsilon: float, delta: float) -> float:
    """The rho of zero-concentrated DP whose standard conversion gives (epsilon, delta).

    Bun & Steinke (2016): rho-zCDP implies (rho + 2 sqrt(rho log(1/delta)), delta)-DP; this
    inverts it. Used only to split the budget before calibration (the ledger's total comes
    from the PLD accountant, which is tighter).
    """
    log_term = math.log(1.0 / delta)
    return (math.sqrt(log_term + epsilon) - math.sqrt(log_term)) ** 2


def zcdp_to_epsilon(rho: float, delta: float) -> float:
    """The (epsilon, delta)-DP that rho-zCDP implies (Bun & Steinke 2016): rho + 2 sqrt(rho log(1/delta))."""
    return rho + 2.0 * math.sqrt(rho * math.log(1.0 / delta))


def staged_configs(config: DPConfig, n_stages: int) -> list[DPConfig]:
    """One budget spent by ``n_stages`` models in turn, on one ledger.

    Stage k's config is the *cumulative* target after k + 1 stages: each stage gets an equal
    share of the zCDP budget rho (converted back to epsilon; the last stage's target is
    ``config.epsilon`` itself), its preprocessing the configured share of its own rho, and
    its partition selection 1 / n_stages of the threshold delta, with the accountant delta
    of ``config`` unchanged. Calibrating each stage against the ledger of everything before
    it (:meth:`PrivacyLedger.stage`) then lands the PLD total on ``config``'s target.

    Returns
    -------
    list of DPConfig, ``n_stages`` long
    """
    delta = config.accountant_delta
    rho = zcdp_budget(config.epsilon, delta)
    threshold = config.threshold_delta / n_stages
    stage_delta = delta + threshold  # so that accountant_delta stays ``delta``
    configs = []
    for k in range(n_stages):
        cumulative = rho * (k + 1) / n_stages
        epsilon = config.epsilon if k == n_stages - 1 else zcdp_to_epsilon(cumulative, delta)
        # preprocessing_share * zcdp_budget(epsilon) = the configured share of this stage's rho
        share = config.preprocessing_share * (rho / n_stages) / zcdp_budget(epsilon, delta)
        configs.append(dataclasses.replace(config, epsilon=epsilon, delta=stage_delta, preprocessing_share=share,
                                           threshold_delta_share=threshold / stage_delta))
    return configs


def preprocessing_noise_std(config: DPConfig, sensitivity_squares: float) -> float:
    """Noise standard deviation of every preprocessing histogram (counts).

    The histograms together (their squared L2 sensitivities summing to
    ``sensitivity_squares``) spend ``config.preprocessing_share`` of the zCDP budget:
    rho_pre = sensitivity_squares / (2 sigma^2).
    """
    rho = config.preprocessing_share * zcdp_budget(config.epsilon, config.accountant_delta)
    return math.sqrt(max(sensitivity_squares, 1e-12) / (2.0 * rho))


def calibrate_noise_multiplier(ledger: PrivacyLedger, *, sample_rate: float, steps: int,
                               tolerance: float = 0.005) -> float:
    """Smallest DP-SGD noise multiplier whose composition with the ledger meets its target.

    Doubling, then bisection, on the PLD accountant's epsilon of everything in ``ledger``
    plus DP-SGD (``steps`` Poisson-sampled Gaussians at ``sample_rate``), until the total
    lies in ``[(1 - tolerance) * target, target]``.

    Returns
    -------
    float
        The noise multiplier (noise std over the clipping norm).

    Raises
    ------
    ValueError
        If the ledger alone already spends the target (nothing is left for DP-SGD).
    """
    target, delta = ledger.config.epsilon, ledger.config.accountant_delta
    fixed = ledger.events()
    if compose_epsilon(fixed, delta) >= target:
        raise ValueError(f"The preprocessing mechanisms alone spend epsilon {compose_epsilon(fixed, delta):.3f} "
                         f"of the target {target:g}; lower DPConfig.preprocessing_share.")

    def total(z: float) -> float:
        sgd = Mechanism("DP-SGD", [], noise_std=z, sensitivity=1.0, steps=steps, sample_rate=sample_rate)
        return compose_epsilon(fixed + [sgd.event()], delta)

    high = 1.0
    while total(high) > target:
        high *= 2.0
        if high > 1e4:
            raise ValueError("No noise multiplier below 1e4 meets the target; raise epsilon or lower the steps.")
    low = high / 2.0
    while total(low) <= target and low > 1e-3:  # make `low` a multiplier that is not enough
        low /= 2.0
    for _ in range(60):
        middle = (low + high) / 2
        eps = total(middle)
        if eps > target:
            low = middle
        else:
            high = middle
            if eps >= (1 - tolerance) * target:
                break
    return high
