"""tabsynth's DP mode beside MOSTLY AI's engine in DP mode and smartnoise-synth (MST, AIM, DP-CTGAN).

For each table and each total epsilon (delta 1e-5, the total over every mechanism of each
generator), every generator is fitted on the same training split, samples as many rows as
that split, and the synthetic table is scored by tabsynth's own report in the same run
(shape and pair error = 1 - Column Shapes / Pair Trends, C2ST detection AUC, TSTR ROC AUC of
gradient boosting trained on synthetic rows and tested on the holdout), with fit seconds and
peak memory of the generator's own process:

* tables: ``adult`` (the official train/test split) and ``credit_default`` (a seeded 80/20
  split), as in ``benchmarks/quality_vs_peers.py``;
* tabsynth: every model with a ``dp`` parameter (Autoregressive, TVAE, CTGAN) at its own DP
  defaults (``DP_DEFAULTS`` in each model's module; ``DP_SETTINGS`` below overrides them);
* ``tabularargn-dp``: MOSTLY AI engine 2.7, ``DifferentialPrivacyConfig`` with value
  protection given 10% of epsilon and training (``max_epsilon``) the rest, which the engine
  adds by basic composition (``bash benchmarks/setup_peers.sh``);
* ``mst``, ``aim``, ``dpctgan``: smartnoise-synth 1.0.8 (``bash benchmarks/setup_smartnoise.sh``;
  it pins opacus 0.14), its preprocessor given 10% of epsilon for the continuous columns' bounds.

Usage::

    python benchmarks/dp_vs_peers.py --save                       # everything (hours on 2 cores)
    python benchmarks/dp_vs_peers.py --tables adult --epsilons 1 --peers none   # tabsynth only
    python benchmarks/dp_vs_peers.py --tables adult --epsilons 1,3 --models autoregressive --peers mst,aim

``--save`` writes every result and report to ``benchmarks/runs/dp_vs_peers_<time>.json``, rewritten
after each (table, epsilon) so that a run stopped by hand keeps what it finished.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality_vs_peers as common  # noqa: E402  (the split, child-process and peer-environment helpers)

ROOT = common.ROOT
SMARTNOISE_WORKER = ROOT / "benchmarks" / "_smartnoise_worker.py"
SMARTNOISE_PYTHON = ROOT / "benchmarks" / ".venv-smartnoise" / "bin" / "python"
TABLES = ("adult", "credit_default")
PEERS = ("tabularargn-dp", "mst", "aim", "dpctgan")
DELTA = 1e-5
# Overrides of the models' own DP defaults (none today: each model's DP_DEFAULTS are what it trains with).
DP_SETTINGS: dict[str, dict] = {}
METRICS = {"shape_err": "fidelity.column_shapes", "pair_err": "fidelity.pair_trends",
           "c2st_auc": "fidelity.detection_auc", "tstr_auc": "utility.tstr_boosting_auc"}


def fit_tabsynth(name: str, train_path: str, out_path: str, rows: int, seed: int, epsilon: float) -> dict:
    """Fit one tabsynth model in DP mode and sample ``rows`` rows; runs inside its own child process."""
    import tabsynth as ts
    from tabsynth.models import MODELS

    params = {"random_state": seed, "verbose": False, "dp": ts.DPConfig(epsilon=epsilon, delta=DELTA),
              **DP_SETTINGS.get(name, {})}
    model, timings = common.timed_fit_and_sample(MODELS[name](**params), train_path, out_path, rows, seed)
    return {**timings, "ledger_epsilon": model.privacy_["epsilon"], "ledger_delta": model.privacy_["delta"],
            "noise_multiplier": getattr(model, "noise_multiplier_", None),
            "params": {k: v for k, v in model.get_params().items() if k not in ("dp", "verbose")}}


def command(kind: str, name: str, train_path: Path, out_path: Path, rows: int, epsilon: float, meta,
            args: argparse.Namespace, workdir: Path) -> list[str] | None:
    if kind == "tabsynth":
        return [sys.executable, __file__, "--child", name, "--child-train", str(train_path), "--child-out",
                str(out_path), "--child-rows", str(rows), "--child-epsilon", str(epsilon), "--seed", str(args.seed)]
    if name == "tabularargn-dp":
        python = common.peers_python()
        return None if python is None else [
            str(python), str(common.PEER_WORKER), "--peer", name, "--train", str(train_path), "--out", str(out_path),
            "--rows", str(rows), "--seed", str(args.seed), "--workdir", str(workdir / name), "--epsilon", str(epsilon),
            "--delta", str(DELTA)]
    python = Path(os.environ.get("TABSYNTH_SMARTNOISE_PYTHON", SMARTNOISE_PYTHON))
    if not python.is_file():
        return None
    categorical = [c.name for c in meta if c.kind == "categorical"]
    continuous = [c.name for c in meta if c.kind == "numerical"]
    ids = [c.name for c in meta if c.kind == "id"]  # smartnoise refuses columns of no declared kind
    return [str(python), str(SMARTNOISE_WORKER), "--synth", name, "--train", str(train_path), "--out", str(out_path),
            "--rows", str(rows), "--epsilon", str(epsilon), "--delta", str(DELTA), "--seed", str(args.seed),
            "--categorical", json.dumps(categorical), "--continuous", json.dumps(continuous), "--ids", json.dumps(ids)]


def run_generator(kind: str, name: str, epsilon: float, train, holdout, target, meta, args, workdir: Path,
                  train_path: Path) -> dict:
    import tabsynth as ts
    from tabsynth.evaluation import evaluate
    from tabsynth.models import MODELS

    result: dict = {"model": name, "kind": kind, "epsilon": epsilon}
    if kind == "tabsynth" and "dp" not in inspect.signature(MODELS[name].__init__).parameters:
        result["error"] = "no DP mode yet"
        return result
    out_path = workdir / f"{name}-{epsilon:g}.parquet"
    cmd = command(kind, name, train_path, out_path, len(train), epsilon, meta, args, workdir)
    if cmd is None:
        result["error"] = "peer environment missing (see the setup scripts)"
        return result
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        if done.returncode != 0:
            raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-1500:]}")
        result.update(json.loads(done.stdout.strip().splitlines()[-1]))
        synthetic = ts.read_table(out_path)
        report = evaluate(train, synthetic, holdout=holdout, target=target, metadata=meta, anonymeter=False,
                          random_state=args.seed)
    except subprocess.TimeoutExpired:
        result["error"] = f"did not finish within --timeout {args.timeout} s"
        print(f"  {name} eps {epsilon:g}: timed out", file=sys.stderr, flush=True)
        return result
    except Exception as exc:  # one failing generator must not lose the others' hours
        result["error"] = f"{type(exc).__name__}: {exc}"[:500]
        print(f"  {name} eps {epsilon:g} FAILED: {result['error']}", file=sys.stderr, flush=True)
        return result
    values = {key: report.metric(metric).value for key, metric in METRICS.items()}
    for key in ("shape_err", "pair_err"):
        values[key] = None if values[key] is None else 1 - values[key]
    result["metrics"] = values
    result["report"] = report.to_dict()
    print(f"  {name} eps {epsilon:g}: fit {result['fit_s']:.1f} s, {values}", file=sys.stderr, flush=True)
    return result


def markdown(table: str, epsilon: float, results: list[dict]) -> str:
    lines = [f"### {table}, total epsilon {epsilon:g}, delta {DELTA:g}", "",
             "| model | fit s | peak MB | shape err | pair err | C2ST AUC | TSTR AUC |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        label = r["model"] if r["kind"] == "tabsynth" else f"{r['model']} (peer)"
        if "error" in r:
            lines.append(f"| {label} | {r['error'][:90]} | | | | | |")
            continue
        m = r["metrics"]
        lines.append(f"| {label} | {r['fit_s']:.1f} | {r['peak_rss_mb']:.0f} | " + " | ".join(
            common.fmt(m[k]) for k in ("shape_err", "pair_err", "c2st_auc", "tstr_auc")) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--epsilons", default="1,3")
    parser.add_argument("--models", default="autoregressive,tvae,ctgan")
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", action="store_true")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds one generator may take to fit and sample")
    parser.add_argument("--child")
    parser.add_argument("--child-train")
    parser.add_argument("--child-out")
    parser.add_argument("--child-rows", type=int)
    parser.add_argument("--child-epsilon", type=float)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(fit_tabsynth(args.child, args.child_train, args.child_out, args.child_rows, args.seed,
                                      args.child_epsilon)))
        return
    import tabsynth as ts
    from tabsynth.models import MODELS

    tables = common.names(args.tables, TABLES, "tables")
    models = common.names(args.models, list(MODELS), "models")
    peers = common.names(args.peers, PEERS, "peers")
    epsilons = [float(e) for e in args.epsilons.split(",")]
    everything = []
    # Saved after every (table, epsilon), so a run stopped by hand keeps what it finished.
    out = ROOT / "benchmarks" / "runs" / f"dp_vs_peers_{dt.datetime.now():%Y%m%d_%H%M%S}.json"
    for table in tables:
        train, holdout, target = common.load_split(table, args.seed)
        meta = ts.Metadata.infer(train)
        with tempfile.TemporaryDirectory(prefix="tabsynth-dp-") as tmp:
            workdir = Path(tmp)
            train_path = ts.write_table(train, workdir / "train.parquet")
            for epsilon in epsilons:
                print(f"{table}, epsilon {epsilon:g}", file=sys.stderr, flush=True)
                results = [run_generator(kind, name, epsilon, train, holdout, target, meta, args, workdir, train_path)
                           for kind, names in (("tabsynth", models), ("peer", peers)) for name in names]
                print(markdown(table, epsilon, results) + "\n", flush=True)
                everything.append({"table": table, "epsilon": epsilon, "results": results})
                if args.save:
                    out.parent.mkdir(parents=True, exist_ok=True)
                    ts.io.write_text(out, json.dumps(everything, indent=2, default=str))
                    print(f"saved {out}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
