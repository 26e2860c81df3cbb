"""Bridge to Anonymeter (Giomi et al., 2023, "A Unified Framework for Quantifying Privacy Risk
in Synthetic Data", PoPETs): singling-out, linkability and attribute-inference risk.

Anonymeter pins ``numpy<1.27`` and ``pyarrow<22``, which clash with tabsynth's environment,
so it runs in the benchmark referee's virtual environment: the tables are written as
Parquet to a temporary folder, ``_anonymeter_worker.py`` runs there under that
environment's Python, and its JSON answer is read back. The interpreter is
``$TABSYNTH_REFEREE_PYTHON`` when set, else ``benchmarks/.venv-referee/bin/python`` beside
the installed ``tabsynth`` package (a source checkout). Create it with
``bash benchmarks/setup_referee.sh``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from tabsynth.evaluation.metrics import Metric
from tabsynth.evaluation.tables import EvaluationTables
from tabsynth.io import write_table, write_text

ENV_VAR = "TABSYNTH_REFEREE_PYTHON"
N_ATTACKS = 200  # attacks per evaluator: enough for a ~±7% interval, and seconds on credit
MAX_SECRETS = 2  # columns attacked by attribute inference (the target first); the worst risk is reported
TIMEOUT_S = 180
WORKER = Path(__file__).with_name("_anonymeter_worker.py")
HOW_TO_ENABLE = ("run `bash benchmarks/setup_referee.sh` in a tabsynth checkout, or set "
                 f"{ENV_VAR} to a Python with anonymeter installed")
_TEXT = {
    "singling_out": ("Anonymeter: singling-out risk",
                     "Risk that the synthetic data lets an attacker write a predicate that isolates exactly one "
                     "real training person, beyond what new real data would allow."),
    "linkability": ("Anonymeter: linkability risk",
                    "Risk that the synthetic data lets an attacker link two halves of the columns of the same "
                    "training person, beyond what new real data would allow."),
    "inference": ("Anonymeter: attribute-inference risk",
                  "Risk that the synthetic data lets an attacker who knows some columns of a training person "
                  "guess a hidden one, beyond what new real data would allow (worst column attacked)."),
}


def referee_python() -> Path | None:
    """The referee interpreter: ``$TABSYNTH_REFEREE_PYTHON``, else the checkout's venv; None when absent."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    import tabsynth

    candidate = Path(tabsynth.__file__).resolve().parents[1] / "benchmarks" / ".venv-referee" / "bin" / "python"
    return candidate if candidate.exists() else None


def anonymeter_metrics(tables: EvaluationTables, *, enabled: bool, max_rows: int,
                       random_state: int) -> tuple[list[Metric], dict]:
    """Anonymeter's three risks (value, confidence interval) with the holdout as control set.

    Parameters
    ----------
    tables : EvaluationTables
        With a holdout table (used as Anonymeter's control set).
    enabled : bool
        False records the metrics without values and says how to turn them on.
    max_rows : int
        Rows sampled (seeded) from each table before attacking.
    random_state : int

    Returns
    -------
    (list of Metric, dict)
        The metrics ``privacy.anonymeter_singling_out``, ``..._linkability`` and
        ``..._inference`` (value None plus a ``note`` when not run or failed), and details
        (interpreter, attack counts, per-secret inference risks, baselines, errors).
    """
    if not enabled:
        return _empty(f"Not run (anonymeter=False); to run it pass anonymeter=True and {HOW_TO_ENABLE}."), {}
    python = referee_python()
    if python is None:
        where = os.environ.get(ENV_VAR) or "benchmarks/.venv-referee/bin/python"
        return _empty(f"Not run: no referee Python at {where}; to enable it, {HOW_TO_ENABLE}."), {}
    with tempfile.TemporaryDirectory(prefix="tabsynth-anonymeter-") as folder:
        config = _write_inputs(tables, Path(folder), max_rows, random_state)
        try:
            answer = _run_worker(python, Path(folder))
        except RuntimeError as error:
            return _empty(f"Not run: {error}"), {"python": str(python)}
    if "error" in answer:
        return _empty(f"Not run: {answer['error']}; to enable it, {HOW_TO_ENABLE}."), {"python": str(python)}
    return _read_answer(answer, config, python)


def _empty(note: str) -> list[Metric]:
    return [Metric(f"privacy.anonymeter_{name}", label, None, 0.0, "lower", meaning, note=note)
            for name, (label, meaning) in _TEXT.items()]


def _write_inputs(tables: EvaluationTables, folder: Path, max_rows: int, random_state: int) -> dict:
    """Seeded samples as Parquet (categories as text) and the worker's config; returns the config."""
    rng = np.random.default_rng(random_state)
    for name, frame in (("train", tables.real), ("synthetic", tables.synthetic), ("control", tables.holdout)):
        rows = frame if len(frame) <= max_rows else frame.iloc[np.sort(rng.choice(len(frame), max_rows, replace=False))]
        out = rows.reset_index(drop=True).copy()
        for column in tables.categorical:
            out[column] = pd.Series([None if pd.isna(v) else str(v) for v in out[column].astype(object)],
                                    dtype=object)
        write_table(out, folder / f"{name}.parquet")
    columns = list(tables.columns)
    shuffled = [columns[i] for i in rng.permutation(len(columns))]
    half = len(shuffled) // 2
    others = [c for c in shuffled if c != tables.target]
    secrets = ([tables.target] if tables.target else []) + others
    config = {"n_attacks": N_ATTACKS, "seed": int(random_state),
              "linkability_columns": [shuffled[:half], shuffled[half:]],
              "secrets": [[c, c in tables.numerical] for c in secrets[:MAX_SECRETS]]}
    write_text(folder / "config.json", json.dumps(config))
    return config


def _run_worker(python: Path, folder: Path) -> dict:
    """Run the worker; RuntimeError with its last stderr lines when it fails or times out."""
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")  # -I: isolated from user site and cwd
    try:
        done = subprocess.run([str(python), "-I", str(WORKER), str(folder)], capture_output=True, text=True,
                              timeout=TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"the Anonymeter worker ran past {TIMEOUT_S} s") from error
    except OSError as error:
        raise RuntimeError(f"{python} could not be started ({error})") from error
    result = folder / "result.json"
    if done.returncode != 0 or not result.is_file():
        tail = " ".join(done.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"the Anonymeter worker failed with exit code {done.returncode}: {tail}")
    return json.loads(result.read_text())


def _read_answer(answer: dict, config: dict, python: Path) -> tuple[list[Metric], dict]:
    """Metrics from the worker's answer; the inference metric is the worst secret's risk."""
    inference = [r for r in answer["inference"] if "error" not in r]
    worst = max(inference, key=lambda r: r["value"], default=None)
    picked = {"singling_out": answer["singling_out"], "linkability": answer["linkability"],
              "inference": worst or next(iter(answer["inference"]), {"error": "no secret column to attack"})}
    metrics = []
    for name, (label, meaning) in _TEXT.items():
        result = picked[name]
        if "error" in result:
            metrics.append(Metric(f"privacy.anonymeter_{name}", label, None, 0.0, "lower", meaning,
                                  note=f"Anonymeter failed: {result['error']}"))
            continue
        note = (f"Attack success on training rows {result['attack_rate']:.3f}, on control (holdout) rows "
                f"{result['control_rate']:.3f}, random guess {result['baseline_rate']:.3f}.")
        if name == "inference":
            note = f"Secret column '{result['secret']}'. " + note
        metrics.append(Metric(f"privacy.anonymeter_{name}", label, result["value"], 0.0, "lower", meaning,
                              ci=tuple(result["ci"]), note=note))
    details = {"python": str(python), "n_attacks": config["n_attacks"],
               "linkability_columns": config["linkability_columns"],
               "singling_out": answer["singling_out"], "linkability": answer["linkability"],
               "inference": answer["inference"]}
    for part in ("singling_out", "linkability"):
        details[part] = {k: v for k, v in details[part].items() if k != "trace"}
    details["inference"] = [{k: v for k, v in r.items() if k != "trace"} for r in details["inference"]]
    return metrics, details
