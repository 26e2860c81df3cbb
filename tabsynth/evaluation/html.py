"""The report as one self-contained HTML page: inline CSS, plots as base64 PNGs, no network requests."""

from __future__ import annotations

import html
import warnings
from typing import TYPE_CHECKING

import jinja2

if TYPE_CHECKING:
    from tabsynth.evaluation.report import Report

_TEMPLATE = jinja2.Template(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tabsynth report</title>
<style>
 body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 1100px;
        color: #1d2330; line-height: 1.45; padding: 0 1rem; }
 h1 { margin-bottom: 0.2rem; } .sub { color: #5b6475; margin-top: 0; }
 .cards { display: flex; flex-wrap: wrap; gap: 0.8rem; margin: 1rem 0 1.5rem; }
 .card { border: 1px solid #d8dde6; border-radius: 8px; padding: 0.7rem 1rem; min-width: 150px; flex: 1; }
 .card .v { font-size: 1.6rem; font-weight: 600; } .card .l { color: #5b6475; font-size: 0.85rem; }
 .verdict { display: inline-block; padding: 0.1rem 0.6rem; border-radius: 999px; font-weight: 600; font-size: 0.85rem; }
 .good { background: #d8f3dc; color: #1b5e20; } .fair { background: #fff3cd; color: #7a5b00; }
 .poor { background: #f8d7da; color: #842029; } .notcomputed { background: #e9ecef; color: #495057; }
 table { border-collapse: collapse; width: 100%; margin: 0.6rem 0 1.2rem; font-size: 0.92rem; }
 th, td { border-bottom: 1px solid #e3e7ee; padding: 0.35rem 0.5rem; text-align: left; vertical-align: top; }
 th { background: #f5f7fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
 .meaning { color: #5b6475; font-size: 0.85rem; }
 figure { margin: 1rem 0 1.6rem; } figure img { max-width: 100%; border: 1px solid #eef0f4; }
 figcaption { color: #5b6475; font-size: 0.88rem; }
 section { border-top: 2px solid #e3e7ee; margin-top: 1.5rem; }
 .skipped { background: #f5f7fa; padding: 0.8rem 1rem; border-radius: 8px; }
 .notes { background: #fff8e6; padding: 0.5rem 1rem 0.5rem 2rem; border-radius: 8px; font-size: 0.9rem; }
</style></head><body>
<h1>Synthetic data report</h1>
<p class="sub">tabsynth {{ version }} &middot; {{ created }} &middot; real {{ tables.real_rows }} rows,
 synthetic {{ tables.synthetic_rows }} rows{% if tables.holdout_rows %}, holdout {{ tables.holdout_rows }} rows{% endif %}
 {% if tables.target %}&middot; target <code>{{ tables.target }}</code>{% endif %}</p>
<div class="cards">
{% for name, verdict in verdicts.items() %}
 <div class="card"><div class="l">{{ name|capitalize }}</div>
 <span class="verdict {{ verdict|replace(' ', '') }}">{{ verdict }}</span></div>
{% endfor %}
</div>
<div class="cards">
{% for m in headline %}
 <div class="card" title="{{ m.meaning }}"><div class="v">{{ fmt(m.value) }}</div>
 <div class="l">{{ m.label }} (ideal {{ fmt(m.ideal) }})</div></div>
{% endfor %}
</div>
{% for s in sections %}
<section id="{{ s.name }}"><h2>{{ s.name|replace("_", " ")|capitalize }}
 <span class="verdict {{ s.verdict|replace(' ', '') }}">{{ s.verdict }}</span></h2>
{% if s.reason %}<p class="skipped">{{ s.reason }}</p>{% endif %}
{% if s.notes %}<ul class="notes">{% for note in s.notes %}<li>{{ note }}</li>{% endfor %}</ul>{% endif %}
{% if not s.reason %}
<table><tr><th>figure</th><th>value</th><th>ideal</th><th>95% CI</th><th>what it means</th></tr>
{% for m in s.metrics %}
<tr><td>{{ m.label }}<br><code class="meaning">{{ m.key }}</code></td><td class="num">{{ fmt(m.value) }}</td>
 <td class="num">{{ fmt(m.ideal) }}</td><td class="num">{{ ci(m.ci) }}</td>
 <td class="meaning">{{ m.meaning }}{% if m.note %} <em>{{ m.note }}</em>{% endif %}</td></tr>
{% endfor %}</table>
{% if s.figure_error %}<p class="skipped">{{ s.figure_error }}</p>{% endif %}
{% for f in s.figures %}
<figure><h3>{{ f.title }}</h3><img alt="{{ f.title }}" src="data:image/png;base64,{{ f.png_base64 }}">
<figcaption>{{ f.caption }}</figcaption></figure>
{% endfor %}
{% endif %}
</section>
{% endfor %}
</body></html>
""",
    autoescape=True,
)


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    return html.escape(str(value))


def _ci(interval) -> str:
    return "" if interval is None else f"{interval[0]:.3f} – {interval[1]:.3f}"


def render_html(report: "Report") -> str:
    """Render ``report`` (with plots drawn from the tables it was computed on) to HTML text."""
    from tabsynth.evaluation.figures import fidelity, privacy, utility

    drawers = {"fidelity": fidelity.figures, "utility": utility.figures, "privacy": privacy.figures}
    sections = []
    for name, section in report.sections.items():
        figures, error = [], None
        if section.status == "computed" and report.evaluation_tables is not None and name in drawers:
            try:
                figures = drawers[name](section, report.evaluation_tables)
            except Exception as failure:  # noqa: BLE001 - a plot must not cost the page; the reason is shown
                error = f"The plots of this section could not be drawn ({type(failure).__name__}: {failure})."
                warnings.warn(error, RuntimeWarning, stacklevel=2)
        sections.append({"name": name, "verdict": report.verdicts.get(name, "not computed"),
                         "reason": section.skipped_reason, "notes": section.notes, "metrics": section.metrics,
                         "figures": figures, "figure_error": error})
    from tabsynth._version import __version__

    return _TEMPLATE.render(version=__version__, created=report.created, tables=report.tables,
                            verdicts=report.verdicts, headline=report.headline, sections=sections,
                            fmt=_fmt, ci=_ci)
