"""Differential privacy: the target (:class:`DPConfig`), the mechanisms on real rows, DP-SGD
through Opacus, and the ledger that composes them into one (epsilon, delta).

Modules: ``config`` (the target), ``schema`` (what is public), ``mechanisms`` (noisy counts
and partition selection), ``token_release`` (the discrete view from released statistics),
``dpsgd`` (training), ``accounting`` (the ledger and calibration), ``units`` (person-level DP:
several rows per person).
"""

from tabsynth.privacy.accounting import Mechanism, PrivacyLedger
from tabsynth.privacy.config import DPConfig

__all__ = ["DPConfig", "Mechanism", "PrivacyLedger"]
