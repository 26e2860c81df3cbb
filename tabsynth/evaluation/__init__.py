"""Fidelity, utility and privacy-risk evaluation of a synthetic table: :func:`evaluate` -> :class:`Report`."""

from __future__ import annotations

import time
from typing import Any

from tabsynth.evaluation.report import Report, Section
from tabsynth.evaluation.tables import EvaluationTables
from tabsynth.metadata import Metadata

HEADLINE = [
    "fidelity.column_shapes", "fidelity.pair_trends", "fidelity.detection_auc",
    "utility.tstr_trtr_ratio", "privacy.dcr_share", "privacy.mia_distance_auc", "privacy.exact_copies",
]


def evaluate(real: Any, synthetic: Any, holdout: Any = None, target: str | None = None,
             metadata: Metadata | None = None, *, max_rows: int = 20_000, privacy_rows: int = 5_000,
             anonymeter: bool = True, random_state: int = 0) -> Report:
    """Compare a synthetic table with the real one it was generated from.

    Parameters
    ----------
    real : DataFrame or Arrow table
        The table the generator was trained on.
    synthetic : DataFrame or Arrow table
        The generated table (same columns).
    holdout : DataFrame, Arrow table or None
        Real rows the generator never saw. Needed for utility (test set) and for the
        privacy baselines; without it those sections say what is missing.
    target : str or None
        Column to predict for utility (train on synthetic, test on real).
    metadata : Metadata or None
        Column kinds; inferred from ``real`` when None.
    max_rows : int, default 20000
        Rows per table used by the fidelity and utility sections (seeded subsample).
    privacy_rows : int, default 5000
        Synthetic rows whose distance to closest record is computed, and members /
        non-members per membership-inference attack.
    anonymeter : bool, default True
        Run Anonymeter's singling-out, linkability and inference attacks when its
        environment is available (see :mod:`tabsynth.evaluation.anonymeter`).
    random_state : int, default 0

    Returns
    -------
    Report

    Raises
    ------
    ValueError
        On empty tables, missing columns, values that do not fit a column's kind, or an
        unknown target (the message names the table and column).
    """
    from tabsynth.evaluation import fidelity, privacy, utility

    tables = EvaluationTables.prepare(real, synthetic, holdout, target=target, metadata=metadata)
    sections: dict[str, Section] = {}
    for name, run in (
        ("fidelity", lambda: fidelity.fidelity_section(tables, max_rows=max_rows, random_state=random_state)),
        ("utility", lambda: utility.utility_section(tables, max_rows=max_rows, random_state=random_state)),
        ("privacy", lambda: privacy.privacy_section(tables, max_rows=privacy_rows, anonymeter=anonymeter,
                                                    random_state=random_state)),
    ):
        start = time.perf_counter()
        sections[name] = run()
        sections[name].seconds = time.perf_counter() - start
    verdicts = {name: section.details.get("verdict", "not computed") if section.status == "computed"
                else "not computed" for name, section in sections.items()}
    summary = {
        "real_rows": len(tables.real), "synthetic_rows": len(tables.synthetic),
        "holdout_rows": None if tables.holdout is None else len(tables.holdout),
        "columns": tables.columns, "target": target,
    }
    return Report(tables=summary, sections=sections, verdicts=verdicts, headline_keys=HEADLINE, _tables=tables)


__all__ = ["EvaluationTables", "Report", "Section", "evaluate"]
