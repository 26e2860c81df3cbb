"""The image report: metrics by section with their ideals and a plain-language line each, as JSON
and as one self-contained HTML page (inline CSS, the sample grid as a base64 PNG)."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jinja2
import numpy as np

from tabsynth._version import __version__
from tabsynth.images.data import ImageSet
from tabsynth.io import write_text


@dataclass
class Metric:
    """One figure: key, label, value, ideal (None: no single ideal), meaning, and optional spread."""

    key: str
    label: str
    value: float
    ideal: float | None
    meaning: str
    note: str = ""
    spread: float | None = None
    runs: list[float] | None = None


@dataclass
class ImageReport:
    """What :func:`tabsynth.images.evaluate` measured.

    Attributes
    ----------
    sections : dict[str, list[Metric]]
        "utility", "fidelity", "privacy", optionally "augmentation" and "differential_privacy".
    counts : dict[str, int]      images in each set
    grid : ImageSet or None      the sample grid of the HTML page (up to 10 per class)
    privacy_ledger : dict or None  the DP model's ``privacy.json``
    seconds : float              time the evaluation took
    """

    counts: dict[str, int]
    sections: dict[str, list[Metric]] = field(default_factory=dict)
    grid: ImageSet | None = None
    privacy_ledger: dict | None = None
    seconds: float = 0.0
    created: str = field(default_factory=lambda: dt.datetime.now().isoformat(timespec="seconds"))

    def value(self, key: str) -> float:
        """The value of metric ``key`` (e.g. ``"utility.tstr_accuracy"``); KeyError when absent."""
        for metrics in self.sections.values():
            for metric in metrics:
                if metric.key == key:
                    return metric.value
        raise KeyError(f"No metric {key!r} in this report.")

    def to_dict(self) -> dict:
        return {"tabsynth_version": __version__, "created": self.created, "counts": self.counts,
                "seconds": self.seconds, "sections": {name: [asdict(m) for m in metrics]
                                                      for name, metrics in self.sections.items()},
                "privacy_ledger": self.privacy_ledger}

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write the report as JSON (atomically)."""
        return write_text(path, json.dumps(self.to_dict(), indent=2))

    def to_html(self, path: str | os.PathLike) -> Path:
        """Write the self-contained HTML page (atomically)."""
        return write_text(path, render_html(self))


def grid_png(images: ImageSet, scale: int = 2) -> bytes:
    """PNG bytes of a grid with one row per class (images of ``images`` in label order)."""
    from PIL import Image

    c, h, w = images.image_shape
    rows = []
    width = 0
    for label in range(images.n_classes):
        members = images.x[images.y == label]
        width = max(width, len(members))
        rows.append(members)
    canvas = np.zeros((len(rows) * (h + 2), max(width, 1) * (w + 2), c), dtype=np.uint8)
    for r, members in enumerate(rows):
        for i, image in enumerate(members):
            canvas[r * (h + 2) + 1:r * (h + 2) + 1 + h, i * (w + 2) + 1:i * (w + 2) + 1 + w] = image.transpose(1, 2, 0)
    picture = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


_TEMPLATE = jinja2.Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tabsynth image report</title>
<style>
 body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 1000px;
        color: #1d2330; line-height: 1.45; padding: 0 1rem; }
 .sub, .meaning { color: #5b6475; } .meaning { font-size: 0.85rem; }
 table { border-collapse: collapse; width: 100%; margin: 0.6rem 0 1.2rem; font-size: 0.92rem; }
 th, td { border-bottom: 1px solid #e3e7ee; padding: 0.35rem 0.5rem; text-align: left; vertical-align: top; }
 th { background: #f5f7fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
 section { border-top: 2px solid #e3e7ee; margin-top: 1.5rem; } img { image-rendering: pixelated; }
</style></head><body>
<h1>Synthetic image report</h1>
<p class="sub">tabsynth {{ version }} &middot; {{ report.created }} &middot;
 {% for k, v in report.counts.items() %}{{ k }} {{ "{:,}".format(v) }} images{% if not loop.last %}, {% endif %}{% endfor %}
 &middot; {{ report.seconds }} s</p>
{% if grid %}<h2>Samples, one row per class</h2><img alt="sample grid" src="data:image/png;base64,{{ grid }}">{% endif %}
{% for name, metrics in report.sections.items() %}
<section><h2>{{ name|replace("_", " ")|capitalize }}</h2>
<table><tr><th>figure</th><th>value</th><th>ideal</th><th>what it means</th></tr>
{% for m in metrics %}<tr><td>{{ m.label }}<br><code class="meaning">{{ m.key }}</code></td>
<td class="num">{{ fmt(m.value) }}</td><td class="num">{{ fmt(m.ideal) }}</td>
<td class="meaning">{{ m.meaning }}{% if m.note %} <em>{{ m.note }}</em>{% endif %}</td></tr>
{% endfor %}</table></section>
{% endfor %}
{% if report.privacy_ledger %}<section><h2>Privacy ledger</h2><table><tr><th>mechanism</th><th>epsilon alone</th>
<th>noise multiplier</th><th>steps</th></tr>
{% for m in report.privacy_ledger.mechanisms %}<tr><td>{{ m.name }}</td><td class="num">{{ fmt(m.epsilon_alone) }}</td>
<td class="num">{{ fmt(m.noise_multiplier) }}</td><td class="num">{{ m.steps }}</td></tr>{% endfor %}
<tr><th>total ({{ report.privacy_ledger.accountant }})</th><th class="num">{{ fmt(report.privacy_ledger.epsilon) }}</th>
<th colspan="2">delta {{ "%.1e"|format(report.privacy_ledger.delta) }}</th></tr></table></section>{% endif %}
</body></html>
""", autoescape=True)


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.2f}"
    return str(value)


def render_html(report: ImageReport) -> str:
    grid = base64.b64encode(grid_png(report.grid)).decode("ascii") if report.grid is not None else None
    return _TEMPLATE.render(report=report, grid=grid, version=__version__, fmt=_fmt)
