"""Fit one parent-child peer at its defaults and sample from it; runs under benchmarks/.venv-peers.

Called by benchmarks/parent_child_vs_peers.py (never imported by tabsynth)::

    benchmarks/.venv-peers/bin/python benchmarks/_relational_peer_worker.py --peer sdv-par \\
        --parents parents.parquet --children children.parquet --key customer_id --order-by date \\
        --n-parents 18856 --out-parents p.parquet --out-children c.parquet --workdir /tmp/w

Peers:

* ``sdv-par``: SDV 2.0's PARSynthesizer on the child table with the parent columns joined as
  context columns (sequence key = the key, sequence index = ``--order-by``), its defaults
  (128 epochs); it samples ``--n-parents`` sequences. The synthetic parents are the distinct
  context rows of the sampled sequences.
* ``sdv-hma``: SDV 2.0's HMASynthesizer on the two tables (primary key on the parents, a
  relationship to the children), its defaults; ``scale`` chosen so it samples ``--n-parents``.
* ``tabularargn``: MOSTLY AI engine 2.7, two models as its documentation describes: a flat
  model of the parent table (skipped when it is only keys: fresh keys are the context then),
  and a sequential model of the children with the parent table as context
  (``split(tgt_data, ctx_data, tgt_context_key, ctx_primary_key)``), generated for the
  synthetic parents. Defaults otherwise (model MOSTLY_AI/Medium, early stopping).

Prints one JSON line last: ``{"peer", "fit_s", "sample_s", "peak_rss_mb", "parents", "children",
"versions"}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from _peer_worker import peak_rss_mb, seed_everything, versions

PEERS = ("sdv-par", "sdv-hma", "tabularargn")


def run_par(parents, children, key, order_by, n_parents):
    from sdv.metadata import Metadata
    from sdv.sequential import PARSynthesizer

    context = [c for c in parents.columns if c != key]
    table = children.merge(parents, on=key, how="left")
    start = time.perf_counter()
    metadata = Metadata.detect_from_dataframes({"table": table})
    metadata.update_column(column_name=key, sdtype="id", table_name="table")
    metadata.set_sequence_key(key, table_name="table")
    if order_by:
        metadata.set_sequence_index(order_by, table_name="table")
    synthesizer = PARSynthesizer(metadata, context_columns=context)
    synthesizer.fit({"table": table})  # SDV 2.0: tables travel as {name: DataFrame}
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    sampled = synthesizer.sample_sequences(num_sequences=n_parents)  # SDV 2.0: sample() is rows, refused here
    sampled = sampled["table"] if isinstance(sampled, dict) else sampled
    sample_s = time.perf_counter() - start
    syn_parents = sampled[[key, *context]].drop_duplicates(key).reset_index(drop=True)
    return syn_parents, sampled[list(children.columns)], fit_s, sample_s


def run_hma(parents, children, key, order_by, n_parents):
    from sdv.metadata import Metadata
    from sdv.multi_table import HMASynthesizer

    tables = {"parents": parents, "children": children}
    start = time.perf_counter()
    metadata = Metadata.detect_from_dataframes(tables)
    metadata.update_column(column_name=key, sdtype="id", table_name="parents")
    metadata.update_column(column_name=key, sdtype="id", table_name="children")
    metadata.set_primary_key(key, table_name="parents")
    if not metadata.relationships:
        metadata.add_relationship(parent_table_name="parents", child_table_name="children",
                                  parent_primary_key=key, child_foreign_key=key)
    synthesizer = HMASynthesizer(metadata)
    synthesizer.fit(tables)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    sampled = synthesizer.sample_scale(scale=n_parents / len(parents))
    sample_s = time.perf_counter() - start
    return sampled["parents"], sampled["children"][list(children.columns)], fit_s, sample_s


def run_tabularargn(parents, children, key, order_by, n_parents, seed, workdir: Path):
    from mostlyai import engine

    engine.set_random_state(seed)
    start = time.perf_counter()
    attributes = [c for c in parents.columns if c != key]
    if attributes:
        flat = workdir / "argn-parents"
        engine.split(tgt_data=parents, tgt_primary_key=key, model_type="TABULAR", workspace_dir=flat)
        engine.analyze(workspace_dir=flat)
        engine.encode(workspace_dir=flat)
        engine.train(workspace_dir=flat)
    sequences = workdir / "argn-children"
    engine.split(tgt_data=children, ctx_data=parents, tgt_context_key=key, ctx_primary_key=key,
                 model_type="TABULAR", workspace_dir=sequences)
    engine.analyze(workspace_dir=sequences)
    engine.encode(workspace_dir=sequences)
    engine.train(workspace_dir=sequences)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    if attributes:
        engine.generate(sample_size=n_parents, workspace_dir=flat)
        syn_parents = pd.read_parquet(flat / "SyntheticData")
    else:
        syn_parents = pd.DataFrame({key: range(1, n_parents + 1)})
    syn_parents[key] = range(1, len(syn_parents) + 1)  # fresh keys
    engine.generate(ctx_data=syn_parents, workspace_dir=sequences)
    syn_children = pd.read_parquet(sequences / "SyntheticData")
    sample_s = time.perf_counter() - start
    return syn_parents[list(parents.columns)], syn_children[list(children.columns)], fit_s, sample_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", choices=PEERS, required=True)
    parser.add_argument("--parents", required=True)
    parser.add_argument("--children", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--order-by", default=None)
    parser.add_argument("--n-parents", type=int, required=True)
    parser.add_argument("--out-parents", required=True)
    parser.add_argument("--out-children", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    parents, children = pd.read_parquet(args.parents), pd.read_parquet(args.children)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    seed_everything(args.seed)
    if args.peer == "sdv-par":
        result = run_par(parents, children, args.key, args.order_by, args.n_parents)
    elif args.peer == "sdv-hma":
        result = run_hma(parents, children, args.key, args.order_by, args.n_parents)
    else:
        result = run_tabularargn(parents, children, args.key, args.order_by, args.n_parents, args.seed, workdir)
    syn_parents, syn_children, fit_s, sample_s = result
    syn_parents.to_parquet(args.out_parents)
    syn_children.to_parquet(args.out_children)
    print(json.dumps({"peer": args.peer, "fit_s": fit_s, "sample_s": sample_s, "peak_rss_mb": peak_rss_mb(),
                      "parents": len(syn_parents), "children": len(syn_children), "versions": versions()}),
          flush=True)


if __name__ == "__main__":
    main()
