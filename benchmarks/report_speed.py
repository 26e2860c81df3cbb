"""Time a full report on the credit-default table (30,000 rows, seeded 80/20 split).

Usage::

    python benchmarks/report_speed.py                 # synthetic table from a short TVAE fit
    python benchmarks/report_speed.py --epochs 50

Prints the seconds of each section (fidelity, utility, privacy), of the HTML page, and
the total; the target is at most 90 s on the 2 CPU cores of the reference machine.
Model fitting is not counted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import tabsynth as ts
from tabsynth.evaluation import evaluate

ROOT = Path(__file__).resolve().parent.parent
TARGET = "default payment next month"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="TVAE epochs for the synthetic table")
    parser.add_argument("--no-anonymeter", action="store_true")
    args = parser.parse_args()

    table = ts.read_table(ROOT / "sample_data" / "credit_default.csv.gz")
    meta = ts.Metadata.infer(table)
    holdout = table.sample(frac=0.2, random_state=0)
    train = table.drop(index=holdout.index).reset_index(drop=True)
    holdout = holdout.reset_index(drop=True)
    start = time.perf_counter()
    synthetic = ts.TVAE(epochs=args.epochs, random_state=0, verbose=False).fit(train, metadata=meta).sample(len(train))
    print(f"credit: train {len(train):,}, holdout {len(holdout):,}, synthetic {len(synthetic):,} "
          f"(TVAE {args.epochs} epochs, {time.perf_counter() - start:.0f} s, not counted)")

    start = time.perf_counter()
    report = evaluate(train, synthetic, holdout, target=TARGET, metadata=meta, anonymeter=not args.no_anonymeter)
    evaluate_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        report.to_html(Path(tmp) / "report.html")
        report.to_json(Path(tmp) / "report.json")
        render_s = time.perf_counter() - start
    for name, section in report.sections.items():
        print(f"{name:10} {section.seconds:6.1f} s  ({section.status}, verdict {report.verdicts[name]})")
    print(f"{'html+json':10} {render_s:6.1f} s")
    print(f"{'total':10} {evaluate_s + render_s:6.1f} s  (target <= 90 s)")
    for metric in report.headline:
        value = "n/a" if metric.value is None else f"{metric.value:.3f}"
        print(f"  {metric.key:32} {value:>7}  (ideal {metric.ideal:.3f})")


if __name__ == "__main__":
    main()
