"""Fit one smartnoise-synth DP synthesizer and sample from it; runs under benchmarks/.venv-smartnoise.

Called by benchmarks/dp_vs_peers.py (never imported by tabsynth)::

    benchmarks/.venv-smartnoise/bin/python benchmarks/_smartnoise_worker.py --synth mst \\
        --train train.parquet --out synthetic.parquet --rows 32561 --epsilon 1 --delta 1e-5 \\
        --categorical '["workclass", ...]' --continuous '["age", ...]'

Key columns (``--ids``) are not fitted; the synthetic table gets fresh keys 1..rows.

Synthesizers (smartnoise-synth 1.0.8 at their defaults): ``mst`` (McKenna et al. 2021),
``aim`` (McKenna et al. 2022) and ``dpctgan`` (its DP-CTGAN). Continuous columns have no
declared bounds, so smartnoise's preprocessor spends ``--preprocessor-share`` of epsilon on
them and the synthesizer the rest: the total is ``--epsilon`` (stated, not silently taken).

Prints one JSON line last: ``{"peer", "fit_s", "sample_s", "peak_rss_mb", "rows", "versions"}``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synth", choices=("mst", "aim", "dpctgan"), required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--epsilon", type=float, required=True)
    parser.add_argument("--delta", type=float, default=1e-5)
    parser.add_argument("--preprocessor-share", type=float, default=0.1)
    parser.add_argument("--categorical", required=True, help="JSON list")
    parser.add_argument("--continuous", required=True, help="JSON list")
    parser.add_argument("--ids", default="[]", help="JSON list of key columns: left out of the fit (smartnoise "
                                                    "takes only categorical and continuous columns) and written as "
                                                    "fresh keys 1..rows, as tabsynth does")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    from snsynth import Synthesizer

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    train = pd.read_parquet(args.train)
    categorical, continuous = json.loads(args.categorical), json.loads(args.continuous)
    ids = json.loads(args.ids)
    order = list(train.columns)
    train = train.drop(columns=ids)
    for name in categorical:  # smartnoise wants plain values; nulls as a category of their own
        train[name] = train[name].astype(object).where(train[name].notna(), "__null__").astype(str)
    start = time.perf_counter()
    synth = Synthesizer.create(args.synth, epsilon=args.epsilon, delta=args.delta)
    synth.fit(train, categorical_columns=categorical, continuous_columns=continuous,
              preprocessor_eps=args.preprocessor_share * args.epsilon)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    synthetic = synth.sample(args.rows)
    sample_s = time.perf_counter() - start
    for name in categorical:
        synthetic[name] = synthetic[name].astype(str).replace("__null__", None)
    for name in ids:
        synthetic[name] = np.arange(1, len(synthetic) + 1)
    synthetic = synthetic[order]
    synthetic.to_parquet(args.out)
    from importlib.metadata import version

    print(json.dumps({"peer": args.synth, "fit_s": fit_s, "sample_s": sample_s,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "rows": len(synthetic),
                      "versions": {p: version(p) for p in ("smartnoise-synth", "opacus", "torch", "mbi")}}), flush=True)


if __name__ == "__main__":
    main()
