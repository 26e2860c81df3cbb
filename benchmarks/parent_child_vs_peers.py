"""Parent-child tables: tabsynth's ParentChild beside SDV's PAR and HMA and MOSTLY AI's engine.

Two real parent-child pairs, split by parent (80% of customers to train, 20% held out):

* ``cdnow``: 23,570 CD-retailer customers (no attributes: the parent table is the keys) and
  their 69,659 dated purchases (``../shared/data/cdnow``); entity utility is the
  repeat-purchase task with the standard 39-week calibration period (features to
  1997-09-30, target: a purchase after it).
* ``credit``: the 30,000 credit-card clients (attributes and the default flag) and their six
  monthly statements, April to September 2005 (``sample_data/credit_default.csv.gz``,
  reshaped by :func:`tabsynth.relational.data.credit_statements`); entity utility predicts
  the default flag from the client row and its statements.

Every generator fits on the training pair and samples as many parents as it holds, in its own
process (fit and sample seconds, peak resident memory), and every output is scored by
:func:`tabsynth.evaluate_relational` in this run.

Usage::

    bash benchmarks/setup_peers.sh                                   # once: SDV 2.0 + MOSTLY AI engine 2.7
    python benchmarks/parent_child_vs_peers.py --save                # both data sets, every generator
    python benchmarks/parent_child_vs_peers.py --tables cdnow --peers none   # tabsynth alone
    python benchmarks/parent_child_vs_peers.py --peers none --dp-epsilons 1,3,10 --no-tabsynth   # DP fits
    python benchmarks/parent_child_vs_peers.py --max-parents 2500 --peers sdv-par,sdv-hma   # slow peers, a subset
    python benchmarks/parent_child_vs_peers.py --tables credit --peers none --layout wide   # the panel as columns
    python benchmarks/parent_child_vs_peers.py --tables credit --peers none --no-tabsynth --dp-epsilons 3 \
        --layout wide --max-children 6                                # the DP panel in wide layout

``--save`` writes ``benchmarks/runs/parent_child_<time>/results.json`` (and, per generator and
table, its report and its synthetic tables as Parquet); ``--rescore FOLDER`` scores such a
folder's synthetic tables again with the current report (``results_rescored.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality_vs_peers as common  # noqa: E402  (the peer-environment helpers)

ROOT = common.ROOT
WORKER = ROOT / "benchmarks" / "_relational_peer_worker.py"
PEERS = ("sdv-par", "sdv-hma", "tabularargn")
TABLES = {
    "cdnow": {"key": "customer_id", "order_by": "date", "calibration_end": "1997-09-30", "target": None},
    "credit": {"key": "ID", "order_by": "month", "calibration_end": None, "target": "default"},
}
SHOWN = {"cardinality": "relational.cardinality", "child_shapes": "relational.child_column_shapes",
         "child_pairs": "relational.child_pair_trends", "child_pairs_holdout": "relational.child_pair_trends_holdout",
         "parent_child": "relational.parent_child_trends",
         "parent_child_holdout": "relational.parent_child_trends_holdout",
         "child_pairs_real_bins": "relational.child_pair_trends_real_bins",
         "parent_child_real_bins": "relational.parent_child_trends_real_bins",
         "gap_ks": "relational.gap_shape", "lag_diff_ks": "relational.lag_difference_shape",
         "autocorr_ks": "relational.autocorrelation", "c2st_agg": "fidelity.detection_auc",
         "tstr_auc": "utility.tstr_boosting_auc", "trtr_auc": "utility.trtr_boosting_auc",
         "dcr_share": "privacy.dcr_share", "dcr_share_holdout": "privacy.dcr_share_holdout",
         "mia_auc": "privacy.mia_distance_auc", "cardinality_holdout": "relational.cardinality_holdout"}


def load(name: str, max_parents: int | None = None):
    """``((train_parents, train_children), (holdout_parents, holdout_children))`` of a data set.

    ``max_parents``: keep a seeded random subset of that many parents (with all their children)
    before the 80/20 split, so generators too slow for the whole table (SDV's PAR and HMA) can
    be measured beside tabsynth on the same smaller pair; None keeps every parent.
    """
    import numpy as np

    import tabsynth as ts
    from tabsynth.relational.data import credit_statements, split_by_parent

    if name == "cdnow":
        parents, key = None, "customer_id"
        children = ts.read_table(ROOT.parent / "shared" / "data" / "cdnow" / "cdnow_transactions.csv")
    else:
        key = "ID"
        parents, children = credit_statements(ts.read_table(ROOT / "sample_data" / "credit_default.csv.gz"))
    if max_parents is not None:
        keys = children[key].unique() if parents is None else parents[key].to_numpy()
        if max_parents < len(keys):
            kept = np.random.default_rng(0).choice(keys, size=max_parents, replace=False)
            children = children[children[key].isin(kept)].reset_index(drop=True)
            if parents is not None:
                parents = parents[parents[key].isin(kept)].reset_index(drop=True)
    return split_by_parent(parents, children, key=key, random_state=0)


def fit_tabsynth(args) -> None:
    """Child process: fit ParentChild on the Parquet pair and write its sample (JSON line last)."""
    import pandas as pd

    import tabsynth as ts

    spec = TABLES[args.child]
    parents = pd.read_parquet(args.parents) if Path(args.parents).exists() else None
    children = pd.read_parquet(args.children)
    dp = None if args.epsilon is None else ts.DPConfig(epsilon=float(args.epsilon), delta=1e-5)
    history = args.history if args.history == "auto" else int(args.history)
    model = ts.ParentChild(key=spec["key"], order_by=spec["order_by"], history=history, random_state=args.seed,
                           verbose=False, dp=dp, layout=args.layout, max_children=args.max_children,
                           fine_bins=args.fine_bins,
                           model_params=json.loads(args.model_params) if args.model_params else None)
    start = time.perf_counter()
    model.fit(children, parents=parents)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    syn_parents, syn_children = model.sample(args.n_parents, random_state=args.seed + 1)
    sample_s = time.perf_counter() - start
    syn_parents.to_parquet(args.out_parents)
    syn_children.to_parquet(args.out_children)
    print(json.dumps({"peer": "tabsynth", "fit_s": fit_s, "sample_s": sample_s, "parents": len(syn_parents),
                      "children": len(syn_children),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "epochs": {name: len(m.loss_history_) for name, m in
                                 [("parent", model.parent_model_), *model.child_models_.items()]},
                      "history": model.history_, "running_mean": model.running_mean_, "layouts": model.layouts_,
                      "max_children": model.max_children, "fine_bins": model.fine_bins,
                      "model_params": model.model_params, "privacy": model.privacy_}))


def command(name: str, table: str, paths: dict, n_parents: int, args) -> list[str] | None:
    spec = TABLES[table]
    if name.startswith("tabsynth"):
        epsilon = name.partition("-dp-eps")[2]
        return [sys.executable, __file__, "--child", table, "--parents", str(paths["parents"]), "--children",
                str(paths["children"]), "--n-parents", str(n_parents), "--out-parents", str(paths["out_parents"]),
                "--out-children", str(paths["out_children"]), "--seed", str(args.seed),
                "--history", str(args.history), "--layout", args.layout, "--fine-bins", str(args.fine_bins)] + (
                    ["--epsilon", epsilon] if epsilon else []) + (
                    ["--max-children", str(args.max_children)] if args.max_children else []) + (
                    ["--model-params", args.model_params] if args.model_params else [])
    python = common.peers_python()
    if python is None:
        return None
    cmd = [str(python), str(WORKER), "--peer", name, "--parents", str(paths["parents"]), "--children",
           str(paths["children"]), "--key", spec["key"], "--n-parents", str(n_parents), "--out-parents",
           str(paths["out_parents"]), "--out-children", str(paths["out_children"]), "--seed", str(args.seed),
           "--workdir", str(paths["workdir"])]
    return cmd + (["--order-by", spec["order_by"]] if spec["order_by"] else [])


def run(name: str, table: str, train, holdout, workdir: Path, args) -> dict:
    import pandas as pd

    key = TABLES[table]["key"]
    parents, children = train
    paths = {"parents": workdir / "parents.parquet", "children": workdir / "children.parquet",
             "out_parents": workdir / f"{name}-parents.parquet", "out_children": workdir / f"{name}-children.parquet",
             "workdir": workdir / name}
    # The peers need a parent table: the keys when there is none; tabsynth derives it itself.
    peer_parents = parents if parents is not None else pd.DataFrame({key: children[key].unique()})
    paths["parents"].unlink(missing_ok=True)
    if not name.startswith("tabsynth") or parents is not None:
        peer_parents.to_parquet(paths["parents"])
    children.to_parquet(paths["children"])
    result = {"model": name, "table": table, "max_parents": args.max_parents, "train_parents": len(peer_parents),
              "seed": args.seed}
    cmd = command(name, table, paths, len(peer_parents), args)
    if cmd is None:
        return {**result, "error": "peer environment missing (bash benchmarks/setup_peers.sh)"}
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        if done.returncode != 0:
            raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-1500:]}")
        result.update(json.loads(done.stdout.strip().splitlines()[-1]))
        report = score(table, train, holdout, pd.read_parquet(paths["out_parents"]),
                       pd.read_parquet(paths["out_children"]), args.seed)
    except subprocess.TimeoutExpired:
        print(f"  {table} {name}: timed out", file=sys.stderr, flush=True)
        return {**result, "error": f"did not finish within --timeout {args.timeout} s"}
    except Exception as exc:  # one failing generator must not lose the others
        print(f"  {table} {name} FAILED: {exc}", file=sys.stderr, flush=True)
        return {**result, "error": f"{type(exc).__name__}: {exc}"[:800]}
    if args.out is not None:
        report.to_html(args.out / f"report_{table}_{name}.html")
        for part in ("parents", "children"):  # the synthetic tables, for a closer look afterwards
            if paths[f"out_{part}"].exists():
                shutil.copyfile(paths[f"out_{part}"], args.out / f"synthetic_{table}_{name}_{part}.parquet")
    return scored(result, report)


def score(table: str, train, holdout, syn_parents, syn_children, seed: int):
    """The relational report of one generator's synthetic pair against the real split."""
    import tabsynth as ts

    spec = TABLES[table]
    parents, children = train
    return ts.evaluate_relational(parents, children, None if parents is None else syn_parents, syn_children,
                                  holdout=holdout, key=spec["key"], order_by=spec["order_by"], target=spec["target"],
                                  calibration_end=spec["calibration_end"], random_state=seed)


def scored(result: dict, report) -> dict:
    """``result`` with the report's figures (``values``, ``rows_per_s``, ``report``), printed."""
    result["values"] = {short: report.metric(key_).value for short, key_ in SHOWN.items()}
    result["rows_per_s"] = result["children"] / max(result["sample_s"], 1e-9)
    result["report"] = report.to_dict()
    print(f"  {result['table']} {result['model']}: fit {result['fit_s']:.0f} s, sample {result['sample_s']:.1f} s, "
          + ", ".join(f"{k} {v:.3f}" for k, v in result["values"].items() if v is not None), file=sys.stderr,
          flush=True)
    return result


def rescore(folder: Path, default_seed: int) -> list[dict]:
    """Score again, with this tabsynth's report, the synthetic tables a ``--save`` run kept in
    ``folder`` (fit and sample figures as measured then); writes ``results_rescored.json``."""
    import pandas as pd

    results = json.loads((folder / "results.json").read_text())
    splits = {}
    for result in results:
        if "error" in result:
            continue
        stem = folder / f"synthetic_{result['table']}_{result['model']}"
        which = (result["table"], result.get("max_parents"))
        if which not in splits:
            splits[which] = load(*which)
        train, holdout = splits[which]
        report = score(result["table"], train, holdout, pd.read_parquet(f"{stem}_parents.parquet"),
                       pd.read_parquet(f"{stem}_children.parquet"), result.get("seed", default_seed))
        scored(result, report)
    (folder / "results_rescored.json").write_text(json.dumps(results, indent=2, default=str))
    return results


def markdown(results: list[dict]) -> str:
    columns = ["fit_s", "sample_s", *SHOWN]
    lines = ["| table | model | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 2)]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['table']} | {r['model']} | {r['error'][:120]} |")
            continue
        cells = [f"{r['fit_s']:.0f}", f"{r['sample_s']:.1f}"] + [
            "n/a" if r["values"][k] is None else f"{r['values'][k]:.3f}" for k in SHOWN]
        lines.append(f"| {r['table']} | {r['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default="cdnow,credit")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma list of peers, or none")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds one generator may take")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--history", default="auto", help="tabsynth's ParentChild(history=...): 'auto' or an integer, "
                        "previous children each child sees")
    parser.add_argument("--layout", default="sequence", choices=("sequence", "wide"),
                        help="tabsynth's ParentChild(layout=...)")
    parser.add_argument("--fine-bins", type=int, default=16, help="tabsynth's ParentChild(fine_bins=...): sub-bins "
                        "of each sequence number's quantile bin (1: no fine tokens)")
    parser.add_argument("--max-children", type=int, default=None, help="tabsynth's ParentChild(max_children=...) "
                        "(default: all; 16 under DP). Give the credit panel's 6 with --layout wide under DP")
    parser.add_argument("--model-params", default=None, help="tabsynth's ParentChild(model_params=...) as JSON, "
                        "e.g. '{\"n_bins\": 64}' (every inner flagship model)")
    parser.add_argument("--save", action="store_true")
    parser.add_argument("--dp-epsilons", default="", help="comma list: also fit tabsynth with dp= at each total "
                        "epsilon (delta 1e-5; the parent with all its children is the privacy unit)")
    parser.add_argument("--no-tabsynth", action="store_true", help="leave out the non-private tabsynth fit")
    parser.add_argument("--max-parents", type=int, default=None, help="a seeded subset of this many parents "
                        "(all their children) before the 80/20 split, for peers too slow for the whole table")
    parser.add_argument("--rescore", type=Path, default=None, help="a --save run's folder: score its synthetic "
                        "tables again with this tabsynth's report (results_rescored.json); fits nothing")
    # child-process mode (tabsynth's own fit, measured in a fresh process like the peers)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    for option in ("--parents", "--children", "--out-parents", "--out-children"):
        parser.add_argument(option, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--n-parents", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--epsilon", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        return fit_tabsynth(args)
    if args.rescore is not None:
        print(markdown(rescore(args.rescore, args.seed)))
        return
    peers = [] if args.peers == "none" else [p for p in args.peers.split(",") if p]
    args.out = None
    if args.save:
        args.out = ROOT / "benchmarks" / "runs" / f"parent_child_{dt.datetime.now():%Y%m%d_%H%M%S}"
        args.out.mkdir(parents=True)
    results = []
    for table in args.tables.split(","):
        train, holdout = load(table, args.max_parents)
        with tempfile.TemporaryDirectory() as folder:
            private = [f"tabsynth-dp-eps{e}" for e in args.dp_epsilons.split(",") if e]
            for name in [*([] if args.no_tabsynth else ["tabsynth"]), *private, *peers]:
                results.append(run(name, table, train, holdout, Path(folder), args))
                if args.out is not None:  # keep what finished if a later generator is stopped by hand
                    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(markdown(results))


if __name__ == "__main__":
    main()
