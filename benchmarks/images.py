"""The image module's figures on MNIST against the targets of its issue.

For each model: fit on the 60,000 real training digits (wall seconds), sample 60,000
class-balanced digits, and score them with ``tabsynth.images.evaluate`` (TSTR with LeNet-5
over 5 classifier seeds beside the real-trained baseline, label accuracy, Frechet distance on
the reference CNN's features beside the real-vs-real floor, precision / recall / density /
coverage, memorisation and membership inference). Optionally the augmentation gain
(N = 100, 500, 1,000 real images, 10 seeds, paired differences).

Usage::

    python benchmarks/images.py --models dcgan,vae --save                  # about 50 minutes on 2 cores
    python benchmarks/images.py --models vae --epochs 5 --tstr-seeds 1     # a quick look
    python benchmarks/images.py --models none --augmentation-gain --save   # the gain alone
    python benchmarks/images.py --models dcgan --epsilon 10 --epochs 40 --save   # DP-SGD, about an hour
    python benchmarks/images.py --models dcgan --param mode_seeking=1      # a model parameter changed

``--save`` writes ``benchmarks/runs/images_<time>/`` (results.json, one report.html and
samples.png per model).
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import time
from pathlib import Path

import torch

import tabsynth.images as ti
from tabsynth.images.report import grid_png
from tabsynth.io import write_text
from tabsynth.privacy.config import DPConfig

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT / "sample_data" / "mnist.npz"
# (metric key, comparison, target) per model, from the issue.
TARGETS = {
    "dcgan": [("utility.tstr_accuracy", ">=", 0.975), ("utility.label_accuracy", ">=", 0.99),
              ("fidelity.frechet_ratio", "<=", 3.0), ("fidelity.coverage", ">=", 0.90),
              ("privacy.near_duplicates", "<=", 0), ("fit_minutes", "<=", 30.0)],
    "vae": [("utility.tstr_accuracy", ">=", 0.95), ("fit_minutes", "<=", 15.0)],
    "mlp-gan": [],
    # DP at epsilon 10 (delta 1e-5), on this machine's CPUs.
    "dcgan-dp": [("utility.tstr_accuracy", ">=", 0.90), ("fit_minutes", "<=", 60.0)],
    "vae-dp": [("utility.tstr_accuracy", ">=", 0.90), ("fit_minutes", "<=", 60.0)],
}
SHOWN = ("utility.tstr_accuracy", "utility.trtr_accuracy", "utility.label_accuracy", "fidelity.frechet_distance",
         "fidelity.frechet_ratio", "fidelity.precision", "fidelity.recall", "fidelity.density", "fidelity.coverage",
         "privacy.nn_distance_ratio", "privacy.near_duplicates", "privacy.membership_auc")


def model_params(pairs: list[str], names: list[str]) -> dict:
    """``--param KEY=VALUE`` pairs -> keyword arguments (VALUE read as JSON, else as text),
    checked against every model to run before any fit starts."""
    params = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--param takes KEY=VALUE (e.g. mode_seeking=1), got {pair!r}.")
        if key in ("epochs", "dp", "random_state", "verbose"):
            raise SystemExit(f"--param {key}=... is set by the script's own options (--epochs, --epsilon, "
                             "--seed, --quiet).")
        for name in names:
            if key not in inspect.signature(ti.IMAGE_MODELS[name]).parameters:
                raise SystemExit(f"--param {key}: model {name!r} has no such parameter; run it alone with --models.")
        try:
            params[key] = json.loads(text)
        except json.JSONDecodeError:
            params[key] = text
    return params


def run_model(name: str, args, extra: dict, train, test, out: Path | None) -> dict:
    params = {"random_state": args.seed, "verbose": not args.quiet, **extra}
    if args.epochs:
        params["epochs"] = args.epochs
    if args.epsilon is not None:
        params["dp"] = DPConfig(epsilon=args.epsilon, delta=1e-5)
    model = ti.IMAGE_MODELS[name](**params)
    start = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - start
    fake = model.sample(60_000, random_state=args.seed)
    start = time.perf_counter()
    report = ti.evaluate(fake, train, test, model=model, tstr_seeds=args.tstr_seeds, random_state=args.seed)
    eval_s = time.perf_counter() - start
    values = {key: report.value(key) for key in SHOWN}
    values["fit_minutes"] = fit_s / 60
    label = name if args.epsilon is None else f"{name}-dp"
    targets = TARGETS.get(label, []) if args.epsilon is None or args.epsilon == 10 else []
    row = {"model": label, "params": extra, "epsilon": args.epsilon, "privacy": getattr(model, "privacy_", None),
           "epochs": model.epochs_trained_, "fit_s": round(fit_s, 1), "evaluate_s": round(eval_s, 1),
           "threads": torch.get_num_threads(), "values": values, "report": report.to_dict(),
           "targets": [{"key": k, "op": op, "target": t, "value": values[k],
                        "met": values[k] >= t if op == ">=" else values[k] <= t} for k, op, t in targets]}
    if out is not None:
        report.to_html(out / f"report_{label}.html")
        (out / f"samples_{label}.png").write_bytes(grid_png(report.grid))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="dcgan,vae")
    parser.add_argument("--epochs", type=int, default=None, help="Override every model's epochs.")
    parser.add_argument("--tstr-seeds", type=int, default=5)
    parser.add_argument("--epsilon", type=float, default=None,
                        help="Fit with dp= at this total epsilon (delta 1e-5); targets are the issue's at 10.")
    parser.add_argument("--augmentation-gain", action="store_true")
    parser.add_argument("--gain-generator", default="vae")
    parser.add_argument("--gain-seeds", type=int, default=10)
    parser.add_argument("--gain-sizes", default="100,500,1000", help="Real labelled images N, comma list.")
    parser.add_argument("--gain-steps", type=int, default=3000, help="Optimiser steps of each generator fit.")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="A model parameter for every model run (repeatable), e.g. mode_seeking=1.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--save", action="store_true")
    args = parser.parse_args()
    train, test = ti.load_images(MNIST, "train"), ti.load_images(MNIST, "test")
    out = None
    if args.save:
        out = ROOT / "benchmarks" / "runs" / f"images_{dt.datetime.now():%Y%m%d_%H%M%S}"
        out.mkdir(parents=True)
    rows = []
    names = [n for n in args.models.split(",") if n and n != "none"]
    extra = model_params(args.param, names)
    for name in names:
        rows.append(run_model(name, args, extra, train, test, out))
        row = rows[-1]
        print(f"\n{row['model']}: {row['epochs']} epochs, fit {row['fit_s']:.0f} s, evaluate {row['evaluate_s']:.0f} s")
        for key in SHOWN:
            print(f"  {key:32s} {row['values'][key]:.4f}")
        for target in row["targets"]:
            print(f"  target {target['key']} {target['op']} {target['target']}: {target['value']:.4f} "
                  f"{'met' if target['met'] else 'MISSED'}")
    result = {"rows": rows}
    if args.augmentation_gain:
        gain = ti.augmentation_gain(train, test, sizes=tuple(int(n) for n in args.gain_sizes.split(",")),
                                    seeds=args.gain_seeds, generator=args.gain_generator,
                                    generator_steps=args.gain_steps, verbose=not args.quiet)
        result["augmentation_gain"] = gain
        print(f"\naugmentation gain ({args.gain_generator}, {args.gain_seeds} seeds, {gain['seconds']:.0f} s):")
        for size, row in gain["sizes"].items():
            print(f"  N={size}: without {sum(row['without']) / len(row['without']):.4f}, with "
                  f"{sum(row['with']) / len(row['with']):.4f}, gain {row['gain_mean']:+.4f} "
                  f"(95% CI {row['gain_ci95'][0]:+.4f} to {row['gain_ci95'][1]:+.4f}, positive "
                  f"{row['positive_share']:.0%})")
    if out is not None:
        write_text(out / "results.json", json.dumps(result, indent=2, default=str))
        print(f"saved {out}")


if __name__ == "__main__":
    main()
