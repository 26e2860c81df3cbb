"""Do denormal floats slow training? Epoch times of a fit with denormals kept and with them flushed.

Usage::

    python benchmarks/denormals.py --model TVAE            # 300 epochs each way, Adult, CPU
    python benchmarks/denormals.py --model CTGAN --rounds 1

On x86 CPUs, arithmetic on denormal floats (below 1.2e-38) can be ~100x slower; tabsynth 0.1
switched flush-to-zero on for the whole process at import because its hand-written passes'
epochs grew several-fold late in training. This script fits the same model twice per round
in fresh processes, once as it runs by default (denormals kept) and once with
``torch.set_flush_denormal(True)`` set before torch starts its worker threads (so they inherit
it), and prints each fit's epoch times by tenth of training: a denormal slowdown shows as late
tenths slower than early ones in the kept run only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADULT = ROOT / "sample_data" / "adult_train.csv.gz"


def child(model_name: str, epochs: int, flush: bool) -> dict:
    """One fit in this process; returns its fit time and per-tenth mean epoch times."""
    import torch

    if flush:
        torch.set_flush_denormal(True)  # before any parallel torch work: worker threads inherit it
    sys.path.insert(0, str(ROOT))
    import tabsynth as ts

    real = ts.read_table(ADULT)
    model = getattr(ts, model_name)(epochs=epochs, batch_size=500, random_state=0, verbose=False, device="cpu")
    start = time.perf_counter()
    model.fit(real)
    seconds = [h["seconds"] for h in model.loss_history_]
    k = max(1, epochs // 10)
    return {"flush": flush, "fit_s": time.perf_counter() - start,
            "tenths": [statistics.mean(seconds[i : i + k]) for i in range(0, epochs, k)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="TVAE", choices=["CTGAN", "TVAE"])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=1, help="kept/flushed pairs, alternated")
    parser.add_argument("--child", choices=["keep", "flush"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.model, args.epochs, args.child == "flush")))
        return
    print(f"{args.model} on Adult ({args.epochs} epochs, batch 500, CPU): mean seconds per epoch by tenth of training")
    for _ in range(args.rounds):
        for mode in ("keep", "flush"):
            out = subprocess.run([sys.executable, __file__, "--model", args.model, "--epochs", str(args.epochs),
                                  "--child", mode], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            late_early = statistics.mean(r["tenths"][-3:]) / statistics.mean(r["tenths"][:3])
            print(f"  denormals {mode:5}: fit {r['fit_s']:6.1f} s, tenths "
                  + " ".join(f"{t:.3f}" for t in r["tenths"]) + f", last/first three tenths {late_early:.2f}")


if __name__ == "__main__":
    main()
