"""Report: the result of :func:`tabsynth.evaluate`, as versioned JSON and a self-contained HTML page.

JSON schema ``tabsynth.report/1`` (stable keys; new keys may be added within a version)::

    {
      "schema": "tabsynth.report/1",
      "tabsynth_version": "0.1.0",
      "created": "2026-11-21T10:00:00+00:00",
      "tables": {"real_rows": int, "synthetic_rows": int, "holdout_rows": int | null,
                 "columns": [str], "target": str | null},
      "summary": {"headline": [Metric], "verdicts": {"fidelity": str, "utility": str, "privacy": str}},
      "sections": {
        "fidelity": {"status": "computed" | "skipped", "reason": str | null, "seconds": float,
                     "notes": [str], "metrics": [Metric], "details": {...}},
        "utility":  {... the same keys ...},
        "privacy":  {... the same keys ...},
        "differential_privacy": {... the same keys ...}   (only when a model was given)
      }
    }

A section is "skipped" when it cannot be computed at all (no target, no holdout, or an
error, which ``reason`` gives); ``notes`` say how a computed section handled the data
(a class too small for a split, a class one table lacks). A Metric is
``{"key", "label", "value", "ideal", "direction", "meaning", "ci", "note"}``
(see :class:`~tabsynth.evaluation.metrics.Metric`). A verdict is ``"good"``, ``"fair"``,
``"poor"`` or ``"not computed"``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from typing import Any

from tabsynth._version import __version__
from tabsynth.evaluation.metrics import Metric
from tabsynth.io import write_text

SCHEMA = "tabsynth.report/1"
SECTIONS = ("fidelity", "utility", "privacy")


@dataclass
class Section:
    """One part of a report: its metrics, free-form details, or why it was skipped.

    ``notes`` are plain sentences on how the data was handled (a class too small for a
    split, a class one table lacks) that concern more than one metric.
    """

    name: str
    metrics: list[Metric] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    skipped_reason: str | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "skipped" if self.skipped_reason else "computed"

    def metric(self, key: str) -> Metric | None:
        return next((m for m in self.metrics if m.key == key), None)

    def to_dict(self) -> dict:
        return {"status": self.status, "reason": self.skipped_reason, "seconds": round(self.seconds, 3),
                "notes": list(self.notes), "metrics": [m.to_dict() for m in self.metrics], "details": self.details}


@dataclass
class Report:
    """Fidelity, utility and privacy-risk figures of a synthetic table.

    Use :meth:`to_json` / :meth:`to_html` to write it, :meth:`metric` to read a figure,
    and :meth:`failures` to gate a release on thresholds.
    """

    tables: dict[str, Any]
    sections: dict[str, Section]
    verdicts: dict[str, str]
    headline_keys: list[str]
    created: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    # The evaluated tables (EvaluationTables), kept for the HTML page's plots; not serialised.
    evaluation_tables: Any = field(default=None, repr=False)

    def metric(self, key: str) -> Metric:
        """The metric with dotted ``key``; raises KeyError listing the known keys."""
        for section in self.sections.values():
            found = section.metric(key)
            if found is not None:
                return found
        raise KeyError(f"No metric '{key}' in this report; known keys: {self.keys()}.")

    def keys(self) -> list[str]:
        return [m.key for s in self.sections.values() for m in s.metrics]

    @property
    def headline(self) -> list[Metric]:
        return [self.metric(k) for k in self.headline_keys if k in self.keys()]

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "tabsynth_version": __version__,
            "created": self.created,
            "tables": self.tables,
            "summary": {"headline": [m.to_dict() for m in self.headline], "verdicts": self.verdicts},
            "sections": {name: section.to_dict() for name, section in self.sections.items()},
        }

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The report as JSON text; also written (atomically) to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, default=_json_default)
        if path is not None:
            write_text(path, text)
        return text

    def to_html(self, path: str | os.PathLike | None = None) -> str:
        """A self-contained HTML page (plots embedded, no network requests)."""
        from tabsynth.evaluation.html import render_html

        text = render_html(self)
        if path is not None:
            write_text(path, text)
        return text

    def failures(self, under: dict[str, float] | None = None, over: dict[str, float] | None = None) -> list[str]:
        """Messages for every threshold broken: ``value < under[key]`` or ``value > over[key]``.

        A key of a skipped section, or a metric without a value, counts as broken, with the
        reason it was not computed.

        Raises
        ------
        KeyError
            For a key that is not a metric of this report (the message lists them).
        """
        broken = []
        for limits, below in ((under or {}, True), (over or {}, False)):
            for key, threshold in limits.items():
                skipped = self.sections.get(key.split(".")[0])
                if skipped is not None and skipped.status == "skipped":
                    broken.append(f"{key} was not computed ({skipped.skipped_reason})")
                    continue
                metric = self.metric(key)
                if metric.value is None:
                    broken.append(f"{key} was not computed ({metric.note or 'no value'})")
                elif (metric.value < threshold) if below else (metric.value > threshold):
                    word = "below" if below else "above"
                    broken.append(f"{key} = {metric.value:.4f} is {word} the threshold {threshold}")
        return broken


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
