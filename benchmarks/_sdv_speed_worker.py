"""Time SDV 2.0's CTGAN or TVAE fit on a table; runs under benchmarks/.venv-peers.

Called by benchmarks/engine_speed.py (never imported by tabsynth)::

    benchmarks/.venv-peers/bin/python benchmarks/_sdv_speed_worker.py --model CTGAN \\
        --data sample_data/adult_train.csv.gz --epochs 10

Fits SDV's synthesizer (metadata detected from the table beforehand, batch size 500, on
``--device``) once, after a
warm-up fit on 2,000 rows, and splits its wall time with timers around ctgan's
``DataTransformer``: ``encoder_s`` is the transformer's fit (mode-specific normalization,
the figure the issue quotes as SDV's ~13 s encoder), ``training_s`` runs from the end of
its last ``transform`` to the end of the fit (the epochs), and the rest is SDV's other
preprocessing. Prints one JSON line last:
``{"model", "rows", "epochs", "fit_s", "encoder_s", "training_s", "s_per_epoch", "fixed_s", "versions"}``.
Projecting 300 epochs from a few is conservative for SDV: its late epochs are slower, not
faster (TVAE on Adult, one run of 2026-12-02: 0.70 s an epoch over its first 5 epochs, 1.00 s
over all 300; ``engine_speed.py --models TVAE --sdv-epochs 300`` times the whole fit).
"""

from __future__ import annotations

import argparse
import json
import time
from importlib.metadata import version

import pandas as pd

SDV_TABLE = "table"


def timed_fit(model: str, train: pd.DataFrame, epochs: int, device: str) -> dict:
    """One SDV synthesizer fit, its wall seconds split into encoder, epochs and the rest."""
    from ctgan.data_transformer import DataTransformer
    from sdv.metadata import Metadata
    from sdv.single_table import CTGANSynthesizer, TVAESynthesizer

    marks = {"encoder_s": 0.0, "transform_end": None}
    fit, transform = DataTransformer.fit, DataTransformer.transform

    def timed_transformer_fit(self, *args, **kwargs):
        start = time.perf_counter()
        fit(self, *args, **kwargs)
        marks["encoder_s"] += time.perf_counter() - start

    def timed_transform(self, *args, **kwargs):
        out = transform(self, *args, **kwargs)
        marks["transform_end"] = time.perf_counter()
        return out

    DataTransformer.fit, DataTransformer.transform = timed_transformer_fit, timed_transform
    try:
        cls = CTGANSynthesizer if model == "CTGAN" else TVAESynthesizer
        # Metadata is detected outside the timed window, as tabsynth's fit time excludes Metadata.infer.
        metadata = Metadata.detect_from_dataframes({SDV_TABLE: train})
        synthesizer = cls(metadata, epochs=epochs, batch_size=500, enable_gpu=device != "cpu")
        start = time.perf_counter()
        synthesizer.fit({SDV_TABLE: train})
        end = time.perf_counter()
    finally:
        DataTransformer.fit, DataTransformer.transform = fit, transform
    training = end - marks["transform_end"]
    return {"fit_s": end - start, "encoder_s": marks["encoder_s"], "training_s": training,
            "s_per_epoch": training / epochs, "fixed_s": end - start - training}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("CTGAN", "TVAE"), required=True)
    parser.add_argument("--data", required=True, help="training table (CSV, as pandas reads it)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs to train and time")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda to let SDV use the GPU")
    args = parser.parse_args()

    train = pd.read_csv(args.data)
    timed_fit(args.model, train.sample(2000, random_state=0), 1, args.device)  # warm-up: lazy imports, first calls
    result = timed_fit(args.model, train, args.epochs, args.device)
    print(json.dumps({"model": args.model, "rows": len(train), "epochs": args.epochs, **result,
                      "versions": {name: version(name) for name in ("sdv", "ctgan", "torch")}}), flush=True)


if __name__ == "__main__":
    main()
