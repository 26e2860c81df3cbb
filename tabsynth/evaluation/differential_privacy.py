"""The report's differential-privacy section: the model's privacy ledger, as its fit recorded it.

A model fitted with ``dp=DPConfig(...)`` saves ``privacy.json`` (see
:mod:`tabsynth.privacy.accounting`); this section shows its total (epsilon, delta), the
accountant that composed it, and every mechanism with its noise and its own epsilon. A
model fitted without DP gets a skipped section that says what that means.
"""

from __future__ import annotations

from typing import Any

from tabsynth.evaluation.metrics import Metric
from tabsynth.evaluation.report import Section

NOT_PRIVATE = ("The model was trained without differential privacy: no formal guarantee covers its output, and "
               "its model directory holds values of the real table (keep it as private as the data). Fit with "
               "dp=DPConfig(epsilon=...) or `tabsynth fit --epsilon` for one.")


def differential_privacy_section(model: Any) -> Section:
    """The section for ``model`` (a fitted tabsynth model, or a model directory path).

    Raises
    ------
    FileNotFoundError, ValueError
        If a path is given that is not a loadable model directory.
    """
    if not hasattr(model, "privacy_"):
        from tabsynth.models import load_model

        model = load_model(model)
    ledger = model.privacy_
    if ledger is None:
        return Section("differential_privacy", skipped_reason=NOT_PRIVATE)
    epsilon, delta = float(ledger["epsilon"]), float(ledger["delta"])
    metrics = [
        Metric("differential_privacy.epsilon", "Total epsilon", epsilon, 0.0, "lower",
               "Privacy loss over every mechanism that read real rows, composed by one accountant: "
               "any one person's presence changes the odds of any output by at most exp(epsilon)."),
        Metric("differential_privacy.delta", "Total delta", delta, 0.0, "lower",
               "Probability that the epsilon bound fails, including partition selection's share."),
    ]
    groups: dict[str, list[dict]] = {}
    for mechanism in ledger["mechanisms"]:
        groups.setdefault(mechanism["name"], []).append(mechanism)
    notes = [f"Accountant: {ledger['accountant']} (neighbouring tables: {ledger.get('neighbouring', 'add or remove one row')}); "
             f"target epsilon {ledger['target_epsilon']:g}, delta {ledger['target_delta']:.0e}."]
    for name, members in groups.items():
        columns = sorted({c for m in members for c in m["columns"]})
        first = members[0]
        noise = (f"noise multiplier {first['noise_multiplier']:.3f}, {first['steps']:,} steps at sampling rate "
                 f"{first['sample_rate']:.4f}" if first["sample_rate"] is not None
                 else f"Gaussian noise std {first['noise_std']:.1f} counts")
        threshold = f", release threshold {first['threshold']:.0f}" if first["threshold"] is not None else ""
        alone = max(m["epsilon_alone"] for m in members)
        notes.append(f"{name} ({len(members)} mechanism(s) on {len(columns)} column(s)): {noise}{threshold}; "
                     f"epsilon {alone:.3f} each alone.")
    verdict = "good" if epsilon <= 1 else ("fair" if epsilon <= 5 else "poor")
    return Section("differential_privacy", metrics=metrics, notes=notes,
                   details={"verdict": verdict, "ledger": ledger})
