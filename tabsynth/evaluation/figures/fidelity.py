"""Fidelity plots: per-column distributions real vs synthetic, and correlation matrices."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tabsynth.evaluation.figures import REAL_COLOUR, SYNTHETIC_COLOUR, Figure, plt, to_png_base64
from tabsynth.evaluation.report import Section
from tabsynth.evaluation.tables import EvaluationTables

MAX_COLUMNS = 12        # distribution panels, the lowest-scoring columns first
MAX_LEVELS = 10         # bars per categorical panel; the rest are pooled as "other"
MAX_CORRELATION_COLUMNS = 30
PLOT_ROWS = 20_000      # seeded subsample of each table for plotting
HIST_BINS = 30


def figures(section: Section, tables: EvaluationTables) -> list[Figure]:
    """The distribution grid and, with two or more numerical columns, the correlation matrices.

    Parameters
    ----------
    section : Section
        A computed fidelity section (its ``details["columns"]`` order the panels).
    tables : EvaluationTables

    Returns
    -------
    list of Figure
        Empty when the section was skipped.
    """
    if section.status != "computed":
        return []
    rng = np.random.default_rng(0)
    real, synthetic = (_sample(frame, rng) for frame in (tables.real, tables.synthetic))
    out = [distribution_figure(section, tables, real, synthetic)]
    if len(tables.numerical) >= 2:
        out.append(correlation_figure(tables, real, synthetic))
    return out


def _sample(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= PLOT_ROWS:
        return frame
    return frame.iloc[np.sort(rng.choice(len(frame), size=PLOT_ROWS, replace=False))]


def distribution_figure(section: Section, tables: EvaluationTables, real: pd.DataFrame,
                        synthetic: pd.DataFrame) -> Figure:
    """Grid of histograms (numerical) and bar charts (categorical), at most 12 columns."""
    rows = sorted(section.details["columns"], key=lambda c: (c["score"] is None, c["score"] or 0.0))
    chosen = rows[:MAX_COLUMNS]
    ncols = min(4, len(chosen))
    nrows = math.ceil(len(chosen) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3 * nrows), squeeze=False)
    for ax, info in zip(axes.flat, chosen):
        column = info["column"]
        if column in tables.numerical:
            _histogram(ax, real[column].to_numpy(dtype=float), synthetic[column].to_numpy(dtype=float))
        else:
            _bars(ax, real[column], synthetic[column])
        score = "n/a" if info["score"] is None else f"{info['score']:.3f}"
        ax.set_title(f"{column} ({info['metric'][:2]} {score})", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(chosen):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    shown = "all columns" if len(chosen) == len(rows) else f"the {len(chosen)} lowest-scoring columns"
    return Figure("Column distributions, real vs synthetic",
                  f"Share of rows per value range or category for {shown}; the title gives each "
                  "column's KS or TV complement (1 = identical).", to_png_base64(fig))


def _histogram(ax, real: np.ndarray, synthetic: np.ndarray) -> None:
    real, synthetic = real[~np.isnan(real)], synthetic[~np.isnan(synthetic)]
    if len(real) == 0:
        return
    low, high = np.percentile(real, [0.5, 99.5])
    if high <= low:
        low, high = real.min() - 0.5, real.max() + 0.5
    bins = np.linspace(low, high, HIST_BINS + 1)
    for values, colour, label in ((real, REAL_COLOUR, "real"), (synthetic, SYNTHETIC_COLOUR, "synthetic")):
        weights = np.full(len(values), 1.0 / max(len(values), 1))
        ax.hist(np.clip(values, low, high), bins=bins, weights=weights, histtype="stepfilled",
                alpha=0.45, color=colour, label=label)


def _bars(ax, real: pd.Series, synthetic: pd.Series) -> None:
    p = real.astype(object).fillna("(null)").astype(str).value_counts(normalize=True)
    q = synthetic.astype(object).fillna("(null)").astype(str).value_counts(normalize=True)
    levels = list(p.index[:MAX_LEVELS])
    p_top, q_top = p.reindex(levels, fill_value=0.0), q.reindex(levels, fill_value=0.0)
    if len(p) > MAX_LEVELS or not set(q.index) <= set(levels):
        levels.append("other")
        p_top["other"], q_top["other"] = 1.0 - p_top.sum(), 1.0 - q_top.sum()
    x = np.arange(len(levels))
    ax.bar(x - 0.2, p_top.to_numpy(), width=0.4, color=REAL_COLOUR, label="real")
    ax.bar(x + 0.2, q_top.to_numpy(), width=0.4, color=SYNTHETIC_COLOUR, label="synthetic")
    ax.set_xticks(x)
    ax.set_xticklabels([str(v)[:12] for v in levels], rotation=60, ha="right")


def correlation_figure(tables: EvaluationTables, real: pd.DataFrame, synthetic: pd.DataFrame) -> Figure:
    """Pearson correlation matrices of the numerical columns: real, synthetic, synthetic - real."""
    columns = tables.numerical[:MAX_CORRELATION_COLUMNS]
    matrices = [frame[columns].astype(float).corr(method="pearson").to_numpy() for frame in (real, synthetic)]
    matrices.append(matrices[1] - matrices[0])
    size = max(4.0, 0.3 * len(columns) + 2)
    fig, axes = plt.subplots(1, 3, figsize=(3 * size, size))
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="lightgrey")
    for ax, matrix, title in zip(axes, matrices, ("Real", "Synthetic", "Synthetic - real")):
        image = ax.imshow(matrix, vmin=-1, vmax=1, cmap=cmap)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(len(columns)))
        ax.set_yticks(range(len(columns)))
        ax.set_xticklabels([c[:14] for c in columns], rotation=90, fontsize=7)
        ax.set_yticklabels([c[:14] for c in columns] if ax is axes[0] else [], fontsize=7)
    fig.colorbar(image, ax=list(axes), shrink=0.7)
    return Figure("Correlations between numerical columns",
                  "Pearson correlation in the real and synthetic tables and their difference "
                  "(white = no difference; grey cells are undefined, e.g. a constant column).", to_png_base64(fig))
