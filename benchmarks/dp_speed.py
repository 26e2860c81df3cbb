"""Wall time of a DP fit of the autoregressive model against a non-DP fit with the same epochs.

Adult train (32,561 rows), the DP defaults (20 epochs, expected batch 2048, total epsilon 1);
the non-DP fit trains the same 20 epochs at the same batch size (patience high enough that
early stopping never triggers), so the difference is what DP costs: the preprocessing
mechanisms, the noise calibration and DP-SGD's Poisson sampling, ghost clipping (two backward
passes) and noise. Fits alternate ``--rounds`` times (this machine's speed drifts); medians
are printed. ``--device cuda`` times the CUDA path.

    python benchmarks/dp_speed.py [--rounds 2] [--epochs 20] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import tabsynth as ts

    train = ts.read_table(ROOT / "sample_data" / "adult_train.csv.gz")
    common = {"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": 3e-3, "random_state": 0,
              "verbose": False, "device": args.device}
    times: dict[str, list[float]] = {"non-DP": [], "DP": []}
    per_epoch: dict[str, list[float]] = {"non-DP": [], "DP": []}
    for _ in range(args.rounds):
        for label, extra in (("non-DP", {"patience": 10**6}), ("DP", {"dp": ts.DPConfig(epsilon=args.epsilon)})):
            start = time.perf_counter()
            model = ts.Autoregressive(**common, **extra).fit(train)
            times[label].append(time.perf_counter() - start)
            per_epoch[label].append(statistics.median(h["seconds"] for h in model.loss_history_))
    fit = {k: statistics.median(v) for k, v in times.items()}
    epoch = {k: statistics.median(v) for k, v in per_epoch.items()}
    print(f"Adult train {len(train):,} rows, {args.epochs} epochs, batch {args.batch_size}, device {args.device}, "
          f"epsilon {args.epsilon:g}, {args.rounds} alternating rounds (medians)")
    print(f"{'fit':<8}{'fit s':>9}{'s/epoch':>10}")
    for label in ("non-DP", "DP"):
        print(f"{label:<8}{fit[label]:>9.1f}{epoch[label]:>10.2f}")
    print(f"DP / non-DP: whole fit {fit['DP'] / fit['non-DP']:.2f}x, per epoch {epoch['DP'] / epoch['non-DP']:.2f}x")
    print(json.dumps({"fit_s": times, "s_per_epoch": per_epoch, "args": vars(args)}))


if __name__ == "__main__":
    main()
