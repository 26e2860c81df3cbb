"""Engine quality on Adult: SDMetrics Column Shapes / Column Pair Trends and TSTR ROC AUC.

Trains CTGAN and TVAE on ``adult_train`` at their defaults (300 epochs, batch 500),
samples as many rows as the training table, and prints beside SDV 2.0's reference:

* SDMetrics QualityReport "Column Shapes" and "Column Pair Trends" (the referee runs in
  ``benchmarks/.venv-referee``; create it once with ``bash benchmarks/setup_referee.sh``);
* TSTR: ROC AUC on ``adult_test`` of a HistGradientBoostingClassifier trained on the
  synthetic table, beside the same classifier trained on ``adult_train`` (TRTR).

Usage::

    python benchmarks/engine_quality.py                     # train both models here
    python benchmarks/engine_quality.py --reuse benchmarks/runs   # models saved by engine_speed.py --save
    python benchmarks/engine_quality.py --epochs 20         # quick look
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

import tabsynth as ts

ROOT = Path(__file__).resolve().parent.parent
REFEREE_PYTHON = ROOT / "benchmarks" / ".venv-referee" / "bin" / "python"
TARGET, POSITIVE = "income", ">50K"
# SDV 2.0 on a similar split, measured on this machine (issue #2).
SDV_REFERENCE = {"CTGAN": (0.857, 0.877, 0.880), "TVAE": (0.907, 0.908, 0.885)}
REAL_TSTR_REFERENCE = 0.931


def tstr_auc(train: pd.DataFrame, test: pd.DataFrame, meta: ts.Metadata, seed: int = 0) -> float:
    """ROC AUC on ``test`` of gradient-boosted trees fitted on ``train`` (categoricals native)."""
    features = [c.name for c in meta if c.name != TARGET and c.kind in ("numerical", "categorical")]

    def prepare(frame: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame(index=frame.index)
        for name in features:
            if meta[name].kind == "categorical":
                out[name] = pd.Categorical(frame[name].astype(str), categories=[str(v) for v in meta[name].categories])
            else:
                out[name] = frame[name].astype(float)
        return out

    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed)
    model.fit(prepare(train), (train[TARGET] == POSITIVE).astype(int))
    return float(roc_auc_score((test[TARGET] == POSITIVE).astype(int), model.predict_proba(prepare(test))[:, 1]))


def sdmetrics_scores(real: pd.DataFrame, synth: pd.DataFrame, meta: ts.Metadata) -> dict:
    """Column Shapes / Pair Trends from SDMetrics, run in its own virtual environment."""
    if not REFEREE_PYTHON.exists():
        raise SystemExit("SDMetrics referee missing: run `bash benchmarks/setup_referee.sh` first.")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        real.to_parquet(tmp / "real.parquet")
        synth.to_parquet(tmp / "synth.parquet")
        meta.save(tmp / "meta.json")
        out = subprocess.run([str(REFEREE_PYTHON), str(ROOT / "benchmarks" / "referee_sdmetrics.py"),
                              str(tmp / "real.parquet"), str(tmp / "synth.parquet"), str(tmp / "meta.json")],
                             capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--models", nargs="+", default=["CTGAN", "TVAE"])
    parser.add_argument("--reuse", default=None, help="load adult_<model> from this directory instead of training")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    train = ts.read_table(ROOT / "sample_data" / "adult_train.csv.gz")
    test = ts.read_table(ROOT / "sample_data" / "adult_test.csv.gz")
    meta = ts.Metadata.infer(train)

    rows = []
    real_auc = tstr_auc(train, test, meta, args.seed)
    for name in args.models:
        saved = Path(args.reuse) / f"adult_{name.lower()}" if args.reuse else None
        start = time.perf_counter()
        if saved and saved.exists():
            model, how = ts.load(saved), f"loaded {saved}"
        else:
            model = getattr(ts, name)(epochs=args.epochs, random_state=args.seed, verbose=False).fit(train, metadata=meta)
            how = f"trained {args.epochs} epochs in {time.perf_counter() - start:.0f} s"
        synth = model.sample(len(train), random_state=args.seed + 1)
        scores = sdmetrics_scores(train, synth, meta)
        rows.append((name, how, scores["column_shapes"], scores["column_pair_trends"], tstr_auc(synth, test, meta, args.seed)))
        print(f"done {name}: {how}", flush=True)

    print(f"\nAdult: train {len(train):,} rows, test {len(test):,} rows; TSTR = HistGradientBoosting ROC AUC on adult_test")
    header = f"{'model':6} {'shapes':>7} {'SDV':>6} {'pairs':>7} {'SDV':>6} {'TSTR AUC':>9} {'SDV':>6}  how"
    print(header)
    print("-" * (len(header) + 20))
    for name, how, shapes, pairs, auc in rows:
        ref = SDV_REFERENCE[name]
        print(f"{name:6} {shapes:7.3f} {ref[0]:6.3f} {pairs:7.3f} {ref[1]:6.3f} {auc:9.3f} {ref[2]:6.3f}  {how}")
    print(f"{'real':6} {1:7.3f} {'':6} {1:7.3f} {'':6} {real_auc:9.3f} {REAL_TSTR_REFERENCE:6.3f}  train on adult_train (TRTR)")
    print(json.dumps({"real_auc": real_auc, "models": [dict(zip(("model", "how", "column_shapes",
                                                                  "column_pair_trends", "tstr_auc"), r)) for r in rows]}))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
