"""Fit one peer generator at its defaults and sample from it; runs under benchmarks/.venv-peers.

Called by benchmarks/quality_vs_peers.py (never imported by tabsynth)::

    benchmarks/.venv-peers/bin/python benchmarks/_peer_worker.py --peer sdv-ctgan \\
        --train train.parquet --out synthetic.parquet --rows 9864 --seed 0 --workdir /tmp/w

Peers: ``sdv-ctgan`` / ``sdv-tvae`` (SDV 2.0's CTGANSynthesizer / TVAESynthesizer, metadata
detected from the table, ``--epochs`` epochs, default 300 as in SDV) and ``tabularargn``
(MOSTLY AI engine 2.7's documented flow split -> analyze -> encode -> train -> generate, all
at their defaults: model MOSTLY_AI/Medium, up to 100 epochs with early stopping, value
protection on; ``--argn-max-epochs`` caps training for a quick look only).

Writes the sampled rows to ``--out`` and prints one JSON line last:
``{"peer", "fit_s", "sample_s", "peak_rss_mb", "rows", "versions"}``. The peak resident
memory is this process's (and its largest child's, for the engine's workers).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

PEERS = ("sdv-ctgan", "sdv-tvae", "tabularargn", "tabularargn-dp")
SDV_TABLE = "table"


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def peak_rss_mb() -> float:
    """Peak resident set of this process or its largest child, in MiB (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def run_sdv(peer: str, train: pd.DataFrame, rows: int, epochs: int) -> tuple[pd.DataFrame, float, float]:
    """SDV 2.0: tables travel as ``{name: DataFrame}``; metadata is auto-detected."""
    from sdv.metadata import Metadata
    from sdv.single_table import CTGANSynthesizer, TVAESynthesizer

    cls = CTGANSynthesizer if peer == "sdv-ctgan" else TVAESynthesizer
    start = time.perf_counter()
    metadata = Metadata.detect_from_dataframes({SDV_TABLE: train})
    synthesizer = cls(metadata, epochs=epochs)
    synthesizer.fit({SDV_TABLE: train})
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    synthetic = synthesizer.sample(num_rows=rows)[SDV_TABLE]
    return synthetic, fit_s, time.perf_counter() - start


def run_tabularargn(train: pd.DataFrame, rows: int, seed: int, workdir: Path,
                    max_epochs: float | None, epsilon: float | None = None,
                    delta: float = 1e-5) -> tuple[pd.DataFrame, float, float]:
    """MOSTLY AI engine: split -> analyze -> encode -> train, then generate, in a workspace folder.

    With ``epsilon``, its DP mode: the engine spends a value-protection epsilon in
    ``analyze`` and ``max_epsilon`` in training, and adds them by basic composition; the
    total is held at ``epsilon`` by giving value protection 10% of it (as tabsynth's
    default preprocessing share) and training the rest.
    """
    from mostlyai import engine
    from mostlyai.engine.domain import DifferentialPrivacyConfig

    workspace = workdir / "argn-ws"
    engine.set_random_state(seed)
    dp = None if epsilon is None else DifferentialPrivacyConfig(
        max_epsilon=0.9 * epsilon, value_protection_epsilon=0.1 * epsilon, delta=delta)
    start = time.perf_counter()
    engine.split(tgt_data=train, model_type="TABULAR", workspace_dir=workspace)
    engine.analyze(workspace_dir=workspace, differential_privacy=dp)
    engine.encode(workspace_dir=workspace)
    engine.train(workspace_dir=workspace, max_epochs=max_epochs,  # None: the engine's default (100)
                 differential_privacy=dp)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    engine.generate(sample_size=rows, workspace_dir=workspace)
    synthetic = pd.read_parquet(workspace / "SyntheticData")
    return synthetic, fit_s, time.perf_counter() - start


def like_training(synthetic: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """The training table's columns and dtypes where the values allow (the engine returns
    booleans as "True"/"False" strings and numbers as nullable dtypes)."""
    out = synthetic[list(train.columns)].reset_index(drop=True)
    for name in train.columns:
        want, column = train[name].dtype, out[name]
        if pd.api.types.is_bool_dtype(want) and not pd.api.types.is_bool_dtype(column):
            column = column.astype("string").str.lower().map({"true": True, "false": False}).astype("boolean")
        if not column.isna().any():
            try:
                column = column.astype(want)
            except (TypeError, ValueError):
                pass
        out[name] = column
    return out


def versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in ("sdv", "mostlyai-engine", "torch", "numpy", "pandas")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", choices=PEERS, required=True)
    parser.add_argument("--train", required=True, help="training table (Parquet)")
    parser.add_argument("--out", required=True, help="where to write the synthetic table (Parquet)")
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=300, help="SDV epochs")
    parser.add_argument("--argn-max-epochs", type=float, default=None,
                        help="cap TabularARGN's epochs (quick look only; default: the engine's)")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--epsilon", type=float, default=None, help="tabularargn-dp: total epsilon")
    parser.add_argument("--delta", type=float, default=1e-5, help="tabularargn-dp: total delta")
    args = parser.parse_args()

    train = pd.read_parquet(args.train)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    seed_everything(args.seed)
    if args.peer in ("tabularargn", "tabularargn-dp"):
        epsilon = args.epsilon if args.peer == "tabularargn-dp" else None
        synthetic, fit_s, sample_s = run_tabularargn(train, args.rows, args.seed, workdir, args.argn_max_epochs,
                                                     epsilon, args.delta)
    else:
        synthetic, fit_s, sample_s = run_sdv(args.peer, train, args.rows, args.epochs)
    like_training(synthetic, train).to_parquet(args.out)
    print(json.dumps({"peer": args.peer, "fit_s": fit_s, "sample_s": sample_s, "peak_rss_mb": peak_rss_mb(),
                      "rows": len(synthetic), "versions": versions()}), flush=True)


if __name__ == "__main__":
    main()
