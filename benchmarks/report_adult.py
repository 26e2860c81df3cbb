"""Headline report figures for CTGAN and TVAE on Adult (train adult_train, holdout adult_test).

Usage::

    python benchmarks/report_adult.py --reuse benchmarks/runs   # models saved by engine_speed.py --save
    python benchmarks/report_adult.py --epochs 300              # train them here

Writes benchmarks/runs/adult_<model>_report.{html,json} and prints the headline figures.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import tabsynth as ts
from tabsynth.evaluation import evaluate

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", default=None)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "runs"))
    args = parser.parse_args()
    train = ts.read_table(ROOT / "sample_data" / "adult_train.csv.gz")
    test = ts.read_table(ROOT / "sample_data" / "adult_test.csv.gz")
    meta = ts.Metadata.infer(train)
    for name in ("CTGAN", "TVAE"):
        saved = Path(args.reuse) / f"adult_{name.lower()}" if args.reuse else None
        model = ts.load(saved) if saved and saved.exists() else \
            getattr(ts, name)(epochs=args.epochs, random_state=0, verbose=False).fit(train, metadata=meta)
        synthetic = model.sample(len(train), random_state=1)
        start = time.perf_counter()
        report = evaluate(train, synthetic, test, target="income", metadata=meta)
        seconds = time.perf_counter() - start
        out = Path(args.out)
        report.to_html(out / f"adult_{name.lower()}_report.html")
        report.to_json(out / f"adult_{name.lower()}_report.json")
        print(f"\n{name} on Adult ({seconds:.0f} s): verdicts {report.verdicts}")
        for key in ("fidelity.column_shapes", "fidelity.pair_trends", "fidelity.detection_auc",
                    "utility.tstr_boosting_auc", "utility.trtr_boosting_auc", "utility.tstr_trtr_ratio",
                    "utility.rank_agreement", "utility.importance_correlation", "privacy.exact_copies",
                    "privacy.exact_copies_holdout", "privacy.dcr_share", "privacy.mia_distance_auc",
                    "privacy.mia_domias_auc", "privacy.mia_distance_tpr_at_fpr_1pct",
                    "privacy.anonymeter_singling_out", "privacy.anonymeter_linkability",
                    "privacy.anonymeter_inference"):
            m = report.metric(key)
            value = "n/a" if m.value is None else f"{m.value:.3f}"
            ci = "" if m.ci is None else f"  [{m.ci[0]:.3f}, {m.ci[1]:.3f}]"
            print(f"  {key:36} {value:>7}  ideal {m.ideal:.3f}{ci}")


if __name__ == "__main__":
    main()
