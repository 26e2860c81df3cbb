"""Plots for the HTML report: each section module turns its results into :class:`Figure` s.

``figures.fidelity``, ``figures.utility`` and ``figures.privacy`` each expose
``figures(section, tables) -> list[Figure]``. Plots are PNGs embedded as base64, so the
HTML page makes no network request.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402

REAL_COLOUR, SYNTHETIC_COLOUR, HOLDOUT_COLOUR = "#1f77b4", "#ff7f0e", "#2ca02c"


@dataclass
class Figure:
    """One embedded plot: a title, a one-sentence caption, and the PNG as base64 text."""

    title: str
    caption: str
    png_base64: str


def to_png_base64(figure: "plt.Figure", dpi: int = 90) -> str:
    """Render a matplotlib figure to base64 PNG text and close it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
