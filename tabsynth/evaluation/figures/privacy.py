"""Privacy plots: distance-to-closest-record histograms and membership-inference ROC curves."""

from __future__ import annotations

import numpy as np

from tabsynth.evaluation.figures import HOLDOUT_COLOUR, REAL_COLOUR, SYNTHETIC_COLOUR, Figure, plt, to_png_base64
from tabsynth.evaluation.report import Section

_ATTACK_COLOURS = {"distance": "#d62728", "domias": "#9467bd"}
_ATTACK_NAMES = {"distance": "Distance attack", "domias": "Density-ratio attack (DOMIAS)"}


def figures(section: Section, tables=None) -> list[Figure]:
    """The DCR histogram and the ROC curves, from ``section.details`` (``tables`` is unused)."""
    out = []
    histogram = section.details.get("dcr", {}).get("histogram")
    if histogram:
        out.append(dcr_figure(histogram))
    curves = section.details.get("attacks", {}).get("roc")
    if curves:
        out.append(roc_figure(curves, section))
    return out


def dcr_figure(histogram: dict) -> Figure:
    """Share of rows per Gower-distance bin: synthetic->train, synthetic->holdout, holdout->train."""
    edges = np.asarray(histogram["edges"])
    centres, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    for key, label, colour in (("synthetic_to_train", "synthetic → closest training row", SYNTHETIC_COLOUR),
                               ("synthetic_to_holdout", "synthetic → closest holdout row", HOLDOUT_COLOUR),
                               ("holdout_to_train", "holdout → closest training row (baseline)", REAL_COLOUR)):
        counts = np.asarray(histogram[key], dtype=float)
        ax.step(centres, counts / max(counts.sum(), 1.0), where="mid", color=colour, label=label, linewidth=1.8)
    ax.set_xlim(edges[0], edges[-1] + width[-1] / 2)
    ax.set_xlabel("Gower distance to the closest record (last bin holds the tail)")
    ax.set_ylabel("share of rows")
    ax.legend(frameon=False, fontsize=8)
    return Figure("Distance to closest record",
                  "If the orange curve sits left of the blue baseline (more synthetic rows very close to a "
                  "training row than new real rows are), the generator reproduces its training rows.",
                  to_png_base64(fig))


def roc_figure(curves: dict, section: Section) -> Figure:
    """ROC curves of the membership-inference attacks, linear and log-scaled false-positive axis."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for ax, log in zip(axes, (False, True)):
        for name, curve in curves.items():
            metric = section.metric(f"privacy.mia_{name}_auc")
            auc = "" if metric is None or metric.value is None else f" (AUC {metric.value:.3f})"
            fpr, tpr = np.asarray(curve["fpr"]), np.asarray(curve["tpr"])
            if log:
                keep = fpr > 0
                fpr, tpr = fpr[keep], np.maximum(tpr[keep], 1e-3)
            ax.plot(fpr, tpr, color=_ATTACK_COLOURS.get(name), label=_ATTACK_NAMES.get(name, name) + auc)
        diagonal = np.logspace(-3, 0, 50) if log else np.array([0.0, 1.0])
        ax.plot(diagonal, diagonal, color="grey", linestyle="--", linewidth=1, label="chance")
        ax.set_xlabel("false-positive rate (new rows called members)")
        ax.set_ylabel("true-positive rate (training rows found)")
        if log:
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(1e-3, 1)
            ax.set_ylim(9e-4, 1.05)
            ax.set_title("low false-positive region (log scale)", fontsize=9)
        else:
            ax.legend(frameon=False, fontsize=8, loc="lower right")
    return Figure("Membership-inference attacks",
                  "Curves on the dashed diagonal mean the attacker cannot tell training rows from new real rows; "
                  "curves above it, especially at low false-positive rates (right panel), expose training rows.",
                  to_png_base64(fig))
