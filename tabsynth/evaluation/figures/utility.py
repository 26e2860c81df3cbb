"""Utility plots: TSTR against TRTR scores per model family, and the permutation importances they rest on."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from tabsynth.evaluation.figures import REAL_COLOUR, SYNTHETIC_COLOUR, Figure, to_png_base64
from tabsynth.evaluation.report import Section
from tabsynth.evaluation.tables import EvaluationTables

TOP_FEATURES = 10
_METRIC_LABELS = {"auc": "ROC AUC", "accuracy": "Accuracy", "f1": "F1", "r2": "R²", "rmse": "RMSE", "mae": "MAE"}
_BAR_WIDTH = 0.38


def figures(section: Section, tables: EvaluationTables) -> list[Figure]:
    """The score comparison and, when importances were computed, the importance comparison.

    Parameters
    ----------
    section : Section
        A computed ``"utility"`` section (skipped sections give no figures).
    tables : EvaluationTables
        Unused; part of the common ``figures(section, tables)`` signature.
    """
    if section.status != "computed" or "families" not in section.details:
        return []
    out = [_score_figure(section.details)]
    importances = section.details.get("importances") or []
    if any(row["real"] is not None or row["synthetic"] is not None for row in importances):
        out.append(_importance_figure(importances[:TOP_FEATURES], section.details["task"]))
    return out


def _value(score: float | None) -> float:
    return float("nan") if score is None else float(score)


def _score_figure(details: dict) -> Figure:
    """One panel per metric; per family, a TRTR (real) and a TSTR (synthetic) bar."""
    families = details["families"]
    names = [k for k in next(iter(families.values()))["trtr"] if k not in ("note", "caveat")]
    fig, axes = plt.subplots(1, len(names), figsize=(3.4 * len(names), 3.2), squeeze=False)
    positions = np.arange(len(families))
    for ax, name in zip(axes[0], names):
        for offset, mode, colour, label in ((-1, "trtr", REAL_COLOUR, "trained on real (TRTR)"),
                                            (1, "tstr", SYNTHETIC_COLOUR, "trained on synthetic (TSTR)")):
            heights = [_value(families[f][mode][name]) for f in families]
            bars = ax.bar(positions + offset * _BAR_WIDTH / 2, np.nan_to_num(heights), _BAR_WIDTH,
                          color=colour, label=label)
            for bar, height in zip(bars, heights):
                text = "n/a" if math.isnan(height) else f"{height:,.0f}" if abs(height) >= 1000 else f"{height:.3f}"
                ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                            va="bottom", fontsize=7)
        ax.set_xticks(positions, list(families))
        ax.set_title(_METRIC_LABELS.get(name, name))
        if name in ("auc", "accuracy", "f1"):
            ax.set_ylim(0, 1.1)
        else:
            low, high = ax.get_ylim()
            ax.set_ylim(min(low, 0), high + 0.1 * (high - min(low, 0)))  # room for the value labels
        ax.axhline(0, color="#888888", linewidth=0.6)
    fig.suptitle(f"Predicting '{details['target']}' on real holdout rows", fontsize=10)
    fig.tight_layout()
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=2, fontsize=8, frameon=False)
    better = "lower" if details["task"] == "regression" else "higher"
    caption = ("Scores on the real holdout of models trained on the real table (blue) and on the synthetic table "
               f"(orange); close pairs mean the synthetic table is as useful for training ({better} is better"
               f"{' for RMSE and MAE, higher for R²' if better == 'lower' else ''}).")
    return Figure("Train on synthetic vs train on real", caption, to_png_base64(fig))


def _importance_figure(rows: list[dict], task: str) -> Figure:
    """Horizontal bars: permutation importance of each top feature for both boosting models."""
    fig, ax = plt.subplots(figsize=(6.5, 0.38 * len(rows) + 1.2))
    positions = np.arange(len(rows))[::-1]
    for offset, side, colour, label in ((1, "real", REAL_COLOUR, "trained on real"),
                                        (-1, "synthetic", SYNTHETIC_COLOUR, "trained on synthetic")):
        widths = [0.0 if row[side] is None else row[side] for row in rows]
        ax.barh(positions + offset * _BAR_WIDTH / 2, widths, _BAR_WIDTH, color=colour, label=label)
    ax.set_yticks(positions, [_short(row["column"]) for row in rows])
    ax.axvline(0, color="#888888", linewidth=0.6)
    metric = "R²" if task == "regression" else "ROC AUC"
    ax.set_xlabel(f"drop in {metric} when the feature is shuffled")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    caption = (f"The {len(rows)} features the real-trained gradient-boosting model relies on most, and how much the "
               "synthetic-trained model relies on them; similar bars mean the synthetic table keeps the same "
               "signals.")
    return Figure("Feature importance: synthetic vs real", caption, to_png_base64(fig))


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
