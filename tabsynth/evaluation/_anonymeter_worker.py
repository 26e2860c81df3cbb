"""Run Anonymeter's three attacks; executed by the referee venv's Python, not imported by tabsynth.

Usage: ``python _anonymeter_worker.py FOLDER``. FOLDER holds ``train.parquet``,
``synthetic.parquet``, ``control.parquet`` and ``config.json`` (``n_attacks``, ``seed``,
``linkability_columns`` as two lists, ``secrets`` as ``[[column, is_numerical], ...]``);
the worker writes ``result.json`` there: per attack
``{"value", "ci", "attack_rate", "control_rate", "baseline_rate", "seconds"}`` or
``{"error"}``, or a top-level ``{"error"}`` when anonymeter cannot be imported.

Attacks from Giomi et al., 2023, "A Unified Framework for Quantifying Privacy Risk in
Synthetic Data" (PoPETs), with the control (holdout) table as the baseline.
"""

import json
import sys
import time
import traceback
from pathlib import Path

# This folder holds tabsynth's own ``anonymeter.py`` bridge: keep it from shadowing the library.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]


def _risk(evaluator):
    results = evaluator.results()
    risk = results.risk()
    return {"value": float(risk.value), "ci": [float(risk.ci[0]), float(risk.ci[1])],
            "attack_rate": float(results.attack_rate.value), "control_rate": float(results.control_rate.value),
            "baseline_rate": float(results.baseline_rate.value)}


def _guarded(run):
    start = time.perf_counter()
    try:
        out = run()
    except Exception as error:  # one failed attack must not hide the others
        out = {"error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc(limit=3)}
    out["seconds"] = round(time.perf_counter() - start, 3)
    return out


def main(folder: Path) -> dict:
    try:
        import numpy as np
        import pandas as pd
        from anonymeter.evaluators import InferenceEvaluator, LinkabilityEvaluator, SinglingOutEvaluator
    except ImportError as error:
        return {"error": f"anonymeter is not importable by {sys.executable}: {error}"}
    config = json.loads((folder / "config.json").read_text())
    ori, syn, control = (pd.read_parquet(folder / f"{name}.parquet") for name in ("train", "synthetic", "control"))
    n_attacks, seed = config["n_attacks"], config["seed"]
    out = {}
    np.random.seed(seed)  # linkability and inference sample their targets from numpy's global state
    out["singling_out"] = _guarded(lambda: _risk(SinglingOutEvaluator(
        ori=ori, syn=syn, control=control, n_attacks=n_attacks, seed=seed).evaluate(mode="multivariate")))
    out["linkability"] = _guarded(lambda: _risk(LinkabilityEvaluator(
        ori=ori, syn=syn, control=control, n_attacks=n_attacks, n_neighbors=1,
        aux_cols=tuple(config["linkability_columns"])).evaluate(n_jobs=1)))
    inference = []
    for secret, numerical in config["secrets"]:
        aux = [c for c in ori.columns if c != secret]
        result = _guarded(lambda: _risk(InferenceEvaluator(
            ori=ori, syn=syn, control=control, aux_cols=aux, secret=secret, regression=numerical,
            n_attacks=n_attacks).evaluate(n_jobs=1)))
        inference.append(dict(result, secret=secret))
    out["inference"] = inference
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1])
    (target / "result.json").write_text(json.dumps(main(target)))
