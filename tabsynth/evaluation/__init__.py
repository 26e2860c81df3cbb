"""Fidelity, utility and privacy-risk evaluation of a synthetic table: :func:`evaluate` -> :class:`Report`."""

from __future__ import annotations

import time
import traceback
import warnings
from typing import Any, Callable, Literal

from tabsynth.evaluation.report import Report, Section
from tabsynth.evaluation.tables import EvaluationTables
from tabsynth.metadata import Metadata

HEADLINE = [
    "fidelity.column_shapes", "fidelity.pair_trends", "fidelity.detection_auc",
    "utility.tstr_trtr_ratio", "privacy.dcr_share", "privacy.mia_distance_auc", "privacy.exact_copies",
]


def evaluate(real: Any, synthetic: Any, holdout: Any = None, target: str | None = None,
             metadata: Metadata | None = None, *, max_rows: int = 20_000, privacy_rows: int = 5_000,
             anonymeter: bool = True, random_state: int = 0,
             on_error: Literal["report", "raise"] = "report", model: Any = None) -> Report:
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
    model : fitted tabsynth model, path to a model directory, or None
        The generator of ``synthetic``; when given, the report gains a
        ``differential_privacy`` section with its privacy ledger (total epsilon and delta
        and every mechanism), or says that it was trained without DP.
    on_error : {"report", "raise"}, default "report"
        What a section that raises does. ``"report"``: the report is still written, and
        that section is skipped with the error as its reason (see :func:`run_section`);
        ``"raise"``: the error propagates (for tests and debugging).

    Returns
    -------
    Report

    Raises
    ------
    ValueError
        On empty tables, missing columns, values that do not fit a column's kind, an
        unknown target (the message names the table and column), ``max_rows < 2``,
        ``privacy_rows < 1`` or an unknown ``on_error``.
    """
    from tabsynth.evaluation import differential_privacy, fidelity, privacy, utility

    _check_arguments(max_rows, privacy_rows, on_error)
    tables = EvaluationTables.prepare(real, synthetic, holdout, target=target, metadata=metadata)
    sections = {name: run_section(name, run, on_error) for name, run in (
        ("fidelity", lambda: fidelity.fidelity_section(tables, max_rows=max_rows, random_state=random_state)),
        ("utility", lambda: utility.utility_section(tables, max_rows=max_rows, random_state=random_state)),
        ("privacy", lambda: privacy.privacy_section(tables, max_rows=privacy_rows, anonymeter=anonymeter,
                                                    random_state=random_state)),
    )}
    if model is not None:
        sections["differential_privacy"] = run_section(
            "differential_privacy", lambda: differential_privacy.differential_privacy_section(model), on_error)
    verdicts = {name: section.details.get("verdict", "not computed") if section.status == "computed"
                else "not computed" for name, section in sections.items()}
    summary = {
        "real_rows": len(tables.real), "synthetic_rows": len(tables.synthetic),
        "holdout_rows": None if tables.holdout is None else len(tables.holdout),
        "columns": tables.columns, "target": target,
    }
    return Report(tables=summary, sections=sections, verdicts=verdicts, headline_keys=HEADLINE,
                  evaluation_tables=tables)


def _check_arguments(max_rows: int, privacy_rows: int, on_error: str) -> None:
    """Refuse arguments no section could work with, before any table is read."""
    if max_rows < 2:
        raise ValueError(f"max_rows must be at least 2 (rows per table for fidelity and utility), got {max_rows}.")
    if privacy_rows < 1:
        raise ValueError(f"privacy_rows must be at least 1 (synthetic rows whose privacy risk is measured), "
                         f"got {privacy_rows}.")
    if on_error not in ("report", "raise"):
        raise ValueError(f"on_error must be 'report' or 'raise', got {on_error!r}.")


def run_section(name: str, run: Callable[[], Section], on_error: str = "report") -> Section:
    """Compute one section, timed; with ``on_error="report"`` an error becomes the section's skipped reason.

    Parameters
    ----------
    name : str
        ``"fidelity"``, ``"utility"`` or ``"privacy"``.
    run : callable
        Returns the computed :class:`Section`.
    on_error : {"report", "raise"}, default "report"

    Returns
    -------
    Section
        The computed section; or, when ``run`` raised and ``on_error="report"``, a skipped
        one whose reason is ``"The <name> section could not be computed: <message>"`` (a
        ValueError, whose message names the data at fault and the fix) or
        ``"... computed (<Type>: <message>)."`` (anything else, a RuntimeWarning is also
        issued), with ``details["error"]`` holding the type, message and traceback.
    """
    start = time.perf_counter()
    try:
        section = run()
    except Exception as error:  # noqa: BLE001 - one section's failure must not cost the others
        if on_error == "raise":
            raise
        section = Section(name, skipped_reason=_failure_reason(name, error), details={"error": {
            "type": type(error).__name__, "message": str(error), "traceback": traceback.format_exc()}})
        if not isinstance(error, ValueError):
            warnings.warn(section.skipped_reason, RuntimeWarning, stacklevel=3)
    section.seconds = time.perf_counter() - start
    return section


def _failure_reason(name: str, error: Exception) -> str:
    """A ValueError's message already names the data at fault and the fix; other errors also give their type."""
    if isinstance(error, ValueError):
        return f"The {name} section could not be computed: {error}"
    return f"The {name} section could not be computed ({type(error).__name__}: {error})."


__all__ = ["EvaluationTables", "Report", "Section", "evaluate"]
