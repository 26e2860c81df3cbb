"""tabsynth's models beside SDV's CTGAN/TVAE and MOSTLY AI's TabularARGN: speed, memory, fidelity, utility, privacy.

For each table every generator is fitted on the same training split, samples as many rows as
that split, and the synthetic table is scored by tabsynth's own report,
``tabsynth.evaluate(train, synthetic, holdout=holdout, target=target)``:

* ``adult``: train ``adult_train``, holdout ``adult_test`` (the official split), target ``income``;
* ``online_shoppers``: a seeded 80/20 split of ``online_shoppers``, target ``Revenue``;
* ``credit_default``: a seeded 80/20 split of ``credit_default``, target
  ``default payment next month``.

Generators: tabsynth's (names from ``tabsynth.models.MODELS``; by default the flagship
autoregressive at its defaults, then ctgan and tvae at 300 epochs), each in its own
subprocess so its peak resident memory is its own; and the peers, each fitted at its defaults
by ``benchmarks/_peer_worker.py`` under the peer environment's Python (SDV 2.0's
CTGANSynthesizer / TVAESynthesizer, 300 epochs; MOSTLY AI engine 2.7's TabularARGN). The peer
environment pins numpy>=2, transformers and a CPU-only torch that clash with tabsynth's, so it
is a separate virtual environment: create it once with ``bash benchmarks/setup_peers.sh``, or
point ``TABSYNTH_PEERS_PYTHON`` at a Python with sdv and mostlyai-engine. Without it the
peers are skipped. The peers' torch is CPU-only, so tabsynth's models also run on ``--device
cpu`` unless told otherwise.

Per table it prints one Markdown table: fit and sample seconds, peak memory (MiB), column
shapes and pair trends error (1 - score), C2ST (detection) AUC, TSTR ROC AUC (gradient
boosting, trained on synthetic, tested on the holdout), DCR share (synthetic rows closer to a
training row than to a holdout row; ideal n_train / (n_train + n_holdout)) and the distance
membership-inference attack's AUC (ideal 0.5), with the real-data reference row (TRTR).

Usage::

    bash benchmarks/setup_peers.sh                       # once: benchmarks/.venv-peers
    python benchmarks/quality_vs_peers.py --save         # all tables and models (hours on 2 cores)
    python benchmarks/quality_vs_peers.py --tables adult --models CTGAN,TVAE --peers sdv-ctgan,sdv-tvae
    python benchmarks/quality_vs_peers.py --tables online_shoppers --models CTGAN --epochs 2 \\
        --peers sdv-ctgan,tabularargn                    # quick look (minutes)
    python benchmarks/quality_vs_peers.py --peers none   # tabsynth's models only

``--epochs`` (quick looks) overrides the epochs of every tabsynth model that has them, of
SDV's synthesizers, and caps TabularARGN's ``max_epochs``. ``--save`` writes every result and
full report to ``benchmarks/runs/quality_vs_peers_<time>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "sample_data"
PEER_WORKER = ROOT / "benchmarks" / "_peer_worker.py"
PEERS_VENV_PYTHON = ROOT / "benchmarks" / ".venv-peers" / "bin" / "python"
PEERS_ENV_VAR = "TABSYNTH_PEERS_PYTHON"
PEERS = ("sdv-ctgan", "sdv-tvae", "tabularargn")
FLAGSHIP = "autoregressive"
DEFAULT_EPOCHS = {"ctgan": 300, "tvae": 300}  # the GANs/VAEs as benchmarked; the flagship at its defaults
SDV_EPOCHS = 300
# name -> (training file, holdout file or None for a seeded 80/20 split of the training file, target)
TABLES = {
    "adult": ("adult_train.csv.gz", "adult_test.csv.gz", "income"),
    "online_shoppers": ("online_shoppers.csv.gz", None, "Revenue"),
    "credit_default": ("credit_default.csv.gz", None, "default payment next month"),
}
TRAIN_SHARE = 0.8
# result name -> the report's metric key
METRICS = {
    "column_shapes": "fidelity.column_shapes", "pair_trends": "fidelity.pair_trends",
    "c2st_auc": "fidelity.detection_auc", "tstr_auc": "utility.tstr_boosting_auc",
    "trtr_auc": "utility.trtr_boosting_auc", "dcr_share": "privacy.dcr_share",
    "mia_auc": "privacy.mia_distance_auc", "mia_domias_auc": "privacy.mia_domias_auc",
}


# --- data -------------------------------------------------------------------------------------

def load_split(name: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(train, holdout, target) for one table: the official Adult split, else a seeded 80/20 one."""
    import tabsynth as ts

    train_file, holdout_file, target = TABLES[name]
    table = ts.read_table(DATA / train_file)
    if holdout_file is not None:
        return table, ts.read_table(DATA / holdout_file), target
    order = np.random.default_rng(seed).permutation(len(table))
    cut = int(round(TRAIN_SHARE * len(table)))
    train = table.iloc[np.sort(order[:cut])].reset_index(drop=True)
    holdout = table.iloc[np.sort(order[cut:])].reset_index(drop=True)
    return train, holdout, target


# --- tabsynth models (child process) ----------------------------------------------------------

def model_params(name: str, seed: int, epochs: int | None, device: str) -> dict:
    """Constructor arguments: ``random_state`` always; epochs, device and quiet where accepted."""
    from tabsynth.models import MODELS

    accepted = inspect.signature(MODELS[name].__init__).parameters
    params: dict = {"random_state": seed}
    epochs = epochs if epochs is not None else DEFAULT_EPOCHS.get(name)
    if epochs is not None and "epochs" in accepted:
        params["epochs"] = epochs
    if "device" in accepted:
        params["device"] = device
    if "verbose" in accepted:
        params["verbose"] = False
    return params


def fit_tabsynth(name: str, train_path: str, out_path: str, rows: int, seed: int,
                 epochs: int | None, device: str) -> dict:
    """Fit one tabsynth model and sample ``rows`` rows; runs inside its own child process."""
    from tabsynth.models import MODELS

    params = model_params(name, seed, epochs, device)
    model, timings = timed_fit_and_sample(MODELS[name](**params), train_path, out_path, rows, seed)
    return {**timings, "params": params}


def timed_fit_and_sample(model, train_path: str, out_path: str, rows: int, seed: int):
    """Fit ``model`` on the table at ``train_path``, write ``rows`` sampled rows to ``out_path``.

    Returns ``(model, {"fit_s", "sample_s", "rows", "peak_rss_mb"})`` (this process's peak memory).
    """
    import tabsynth as ts

    train = ts.read_table(train_path)
    start = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    synthetic = model.sample(rows, random_state=seed + 1)
    sample_s = time.perf_counter() - start
    ts.write_table(synthetic, out_path)
    return model, {"fit_s": fit_s, "sample_s": sample_s, "rows": len(synthetic),
                   "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# --- running generators -----------------------------------------------------------------------

def peers_python() -> Path | None:
    """``$TABSYNTH_PEERS_PYTHON``, else benchmarks/.venv-peers' Python; None when absent."""
    configured = os.environ.get(PEERS_ENV_VAR)
    path = Path(configured) if configured else PEERS_VENV_PYTHON
    return path if path.is_file() else None


def run_child(cmd: list[str]) -> dict:
    """Run one generator's process; its last stdout line is its JSON answer."""
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def generator_command(kind: str, name: str, train_path: Path, out_path: Path, rows: int,
                      args: argparse.Namespace, workdir: Path) -> list[str]:
    if kind == "tabsynth":
        cmd = [sys.executable, __file__, "--child", name, "--child-train", str(train_path),
               "--child-out", str(out_path), "--child-rows", str(rows), "--seed", str(args.seed),
               "--device", args.device]
        return cmd + (["--epochs", str(args.epochs)] if args.epochs is not None else [])
    cmd = [str(peers_python()), str(PEER_WORKER), "--peer", name, "--train", str(train_path),
           "--out", str(out_path), "--rows", str(rows), "--seed", str(args.seed),
           "--epochs", str(args.epochs or SDV_EPOCHS), "--workdir", str(workdir / name)]
    return cmd + (["--argn-max-epochs", str(args.epochs)] if args.epochs is not None else [])


def run_generator(kind: str, name: str, train: pd.DataFrame, holdout: pd.DataFrame, target: str,
                  meta, args: argparse.Namespace, workdir: Path, train_path: Path) -> dict:
    """Fit, sample and evaluate one generator; a failure is recorded, not raised."""
    import tabsynth as ts
    from tabsynth.evaluation import evaluate

    out_path = workdir / f"{name}.parquet"
    result: dict = {"model": name, "kind": kind}
    try:
        result.update(run_child(generator_command(kind, name, train_path, out_path, len(train), args, workdir)))
        synthetic = ts.read_table(out_path)
        start = time.perf_counter()
        report = evaluate(train, synthetic, holdout=holdout, target=target, metadata=meta,
                          anonymeter=args.anonymeter, random_state=args.seed)
        result["evaluate_s"] = time.perf_counter() - start
    except Exception as exc:  # one failing generator must not lose the others' hours
        result["error"] = f"{type(exc).__name__}: {exc}"
        print(f"  {name} FAILED: {result['error']}", file=sys.stderr, flush=True)
        return result
    result["metrics"] = {column: report.metric(key).value for column, key in METRICS.items()}
    result["dcr_ideal"] = report.metric("privacy.dcr_share").ideal
    result["report"] = report.to_dict()
    print(f"  {name}: fit {result['fit_s']:.1f} s, sample {result['sample_s']:.1f} s, "
          f"evaluate {result['evaluate_s']:.1f} s", file=sys.stderr, flush=True)
    return result


def run_table(name: str, models: list[str], peers: list[str], args: argparse.Namespace) -> dict:
    """Every generator on one table; returns the table's results."""
    import tabsynth as ts

    train, holdout, target = load_split(name, args.seed)
    meta = ts.Metadata.infer(train)
    print(f"{name}: train {len(train):,} rows, holdout {len(holdout):,} rows, target {target!r}",
          file=sys.stderr, flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="tabsynth-peers-") as tmp:
        workdir = Path(tmp)
        train_path = ts.write_table(train, workdir / "train.parquet")
        for kind, names in (("tabsynth", models), ("peer", peers)):
            for model in names:
                results.append(run_generator(kind, model, train, holdout, target, meta, args, workdir, train_path))
    trtr = next((r["metrics"]["trtr_auc"] for r in results if "metrics" in r), None)
    return {"table": name, "train_rows": len(train), "holdout_rows": len(holdout), "target": target,
            "split": "official" if TABLES[name][1] else f"seeded {TRAIN_SHARE:.0%}/{1 - TRAIN_SHARE:.0%}",
            "dcr_ideal": len(train) / (len(train) + len(holdout)), "trtr_auc": trtr, "results": results}


# --- printing ---------------------------------------------------------------------------------

def fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def error(score: float | None) -> str:
    return fmt(None if score is None else 1 - score)


def markdown_table(table: dict) -> str:
    """One Markdown table: a row per generator, then the real-data reference row."""
    ideal = table["dcr_ideal"]
    header = ["model", "fit s", "sample s", "peak MB", "shapes err", "pairs err", "C2ST AUC", "TSTR AUC",
              f"DCR share (ideal {ideal:.3f})", "MIA AUC"]
    lines = [f"### {table['table']}: train {table['train_rows']:,} / holdout {table['holdout_rows']:,} rows "
             f"({table['split']}), target `{table['target']}`", "",
             "| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for r in table["results"]:
        label = r["model"] if r["kind"] == "tabsynth" else f"{r['model']} (peer)"
        if "error" in r:
            lines.append(f"| {label} | failed: {r['error'][:80]} |" + " |" * (len(header) - 2))
            continue
        m = r["metrics"]
        cells = [label, fmt(r["fit_s"], 1), fmt(r["sample_s"], 2), fmt(r["peak_rss_mb"], 0),
                 error(m["column_shapes"]), error(m["pair_trends"]),
                 fmt(m["c2st_auc"]), fmt(m["tstr_auc"]), fmt(m["dcr_share"]), fmt(m["mia_auc"])]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| real data (TRTR) / ideal | | | | 0 | 0 | 0.500 | "
                 f"{fmt(table['trtr_auc'])} | {ideal:.3f} | 0.500 |")
    return "\n".join(lines)


# --- command line -----------------------------------------------------------------------------

def names(text: str, known, what: str) -> list[str]:
    """Parse a comma-separated list (``none`` for empty) and check every name."""
    chosen = [] if text.strip().lower() == "none" else [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise SystemExit(f"Unknown {what}: {', '.join(unknown)}; choose from {', '.join(known)} or none.")
    return chosen


def default_models() -> str:
    from tabsynth.models import MODELS

    return ",".join([n for n in (FLAGSHIP, "ctgan", "tvae") if n in MODELS])


def choose_peers(text: str | None) -> list[str]:
    """The peers to run: all by default when their environment exists, else none (with a note)."""
    chosen = names(text, PEERS, "peers") if text is not None else list(PEERS)
    if chosen and peers_python() is None:
        message = (f"Peer environment missing ({PEERS_VENV_PYTHON}; or set {PEERS_ENV_VAR}): "
                   "run `bash benchmarks/setup_peers.sh`.")
        if text is not None:
            raise SystemExit(message)
        print(message + " Skipping the peers.", file=sys.stderr)
        return []
    return chosen


def parse_args() -> argparse.Namespace:
    from tabsynth.models import MODELS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(TABLES), help=f"comma-separated: {', '.join(TABLES)}")
    parser.add_argument("--models", default=None,
                        help=f"tabsynth models, comma-separated or none (from {', '.join(MODELS)}; "
                             f"default {default_models()})")
    parser.add_argument("--peers", default=None, help=f"comma-separated or none (default: {','.join(PEERS)})")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override epochs of every model that has them (quick look); caps TabularARGN")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="tabsynth models' device (the peers run on CPU)")
    parser.add_argument("--anonymeter", action="store_true",
                        help="also run the report's Anonymeter attacks (needs benchmarks/.venv-referee; slower)")
    parser.add_argument("--save", nargs="?", const=str(ROOT / "benchmarks" / "runs"), default=None,
                        help="write the results as JSON into this folder (default benchmarks/runs)")
    for hidden in ("--child", "--child-train", "--child-out"):
        parser.add_argument(hidden, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-rows", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def save(tables: list[dict], args: argparse.Namespace) -> Path:
    from tabsynth.io import write_text

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(args.save) / f"quality_vs_peers_{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {k: v for k, v in vars(args).items() if not k.startswith("child")}
    write_text(path, json.dumps({"created": stamp, "options": options, "tables": tables}, indent=2, default=str))
    return path


def main() -> None:
    args = parse_args()
    if args.child:
        print(json.dumps(fit_tabsynth(args.child, args.child_train, args.child_out, args.child_rows,
                                      args.seed, args.epochs, args.device)))
        return
    from tabsynth.models import MODELS

    tables = names(args.tables, list(TABLES), "tables")
    models = names(args.models if args.models is not None else default_models(), list(MODELS), "models")
    peers = choose_peers(args.peers)
    results = []
    for table in tables:
        start = time.perf_counter()
        results.append(run_table(table, models, peers, args))
        print(f"{table} done in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        print("\n" + markdown_table(results[-1]) + "\n", flush=True)
    print("Errors are 1 - score (ideal 0). C2ST: detection AUC of a real-vs-synthetic classifier (ideal 0.5). "
          "TSTR: gradient boosting trained on synthetic, ROC AUC on the holdout. DCR share: synthetic rows "
          "closer to a training row than to a holdout row. MIA: distance membership-inference AUC (ideal 0.5).")
    if args.save:
        print(f"Saved {save(results, args)}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
