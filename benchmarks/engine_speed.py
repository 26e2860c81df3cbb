"""Engine speed on Adult (32,561 rows): encoder fit, seconds per epoch, total fit, sampling rate, memory.

Usage::

    python benchmarks/engine_speed.py                  # CTGAN and TVAE, 300 epochs, batch 500, CPU
    python benchmarks/engine_speed.py --epochs 5       # quick look
    python benchmarks/engine_speed.py --device cuda    # on a GPU machine
    python benchmarks/engine_speed.py --save benchmarks/runs   # keep the fitted models (engine_quality --reuse)
    python benchmarks/engine_speed.py --sdv-epochs 10  # also time SDV side by side (benchmarks/.venv-peers)
    python benchmarks/engine_speed.py --sdv-epochs 5 --interleave 4  # ... and alternate short fits of both

Each model runs in its own subprocess so its peak resident memory is its own.
Reference (SDV 2.0 on this machine's 2 cores, 26,049-row Adult split, 300 epochs; per-epoch
work scaled by 1.25 for the 32,561-row file): encoder 13 s, TVAE 164 s, CTGAN ~900 s
(~3 s/epoch), sampling 26,049 rows in 0.2 s (TVAE) / 0.4 s (CTGAN).

This machine's speed drifts by 10-30% over minutes, so ``--interleave K`` compares the two
engines at the same moments: K rounds, each a short tabsynth fit then a short SDV fit, per-epoch
times paired round by round; the table gives the median ratio and both projected 300-epoch
fits (each engine's fixed costs plus 300 median epochs). ``--sdv-epochs N`` also times SDV
itself in the same run, right after each tabsynth model: SDV 2.0's synthesizer on the same
32,561-row file, its encoder and fixed costs measured, its epochs projected to the same
count from N timed ones (benchmarks/_sdv_speed_worker.py, run by the peers' Python:
``$TABSYNTH_PEERS_PYTHON`` or benchmarks/.venv-peers, made by setup_peers.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADULT = ROOT / "sample_data" / "adult_train.csv.gz"

SDV_ENCODER_S = 13.0
SDV_FIT_S = {"CTGAN": 900.0, "TVAE": 164.0}
ROW_SCALE = 32_561 / 26_049  # the reference ran on a 26,049-row split
SDV_SAMPLE_ROWS_PER_S = {"TVAE": 26_049 / 0.2, "CTGAN": 26_049 / 0.4}
PEERS_PYTHON = ROOT / "benchmarks" / ".venv-peers" / "bin" / "python"


def sdv_reference_fit_s(model: str, epochs: int) -> float:
    """SDV's fit time for our table and epochs: its encoder (not scaled, the conservative
    choice) plus its per-epoch work scaled by 1.25 for rows and by our epoch count."""
    per_epoch = (SDV_FIT_S[model] - SDV_ENCODER_S) / 300 * ROW_SCALE
    return SDV_ENCODER_S + per_epoch * epochs


def measure(model_name: str, epochs: int, device: str, sample_rows: int, save: str | None) -> dict:
    """Fit one model and time it; runs inside the child process."""
    import torch

    import tabsynth as ts
    from tabsynth.encoding import TableEncoder

    real = ts.read_table(ADULT)
    meta = ts.Metadata.infer(real)
    start = time.perf_counter()
    TableEncoder(meta, random_state=0).fit(real)
    encoder_s = time.perf_counter() - start

    model = getattr(ts, model_name)(epochs=epochs, batch_size=500, device=device, random_state=0, verbose=False)
    start = time.perf_counter()
    model.fit(real, metadata=meta)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    fit_s = time.perf_counter() - start
    epoch_s = [h["seconds"] for h in model.loss_history_]

    model.sample(10_000, random_state=1)  # warm-up
    start = time.perf_counter()
    synth = model.sample(sample_rows, random_state=2)
    sample_s = time.perf_counter() - start
    assert len(synth) == sample_rows
    if save:
        model.save(Path(save) / f"adult_{model_name.lower()}")
    return {
        "model": model_name, "device": str(model.device_), "rows": len(real), "epochs": epochs,
        "encoder_fit_s": encoder_s, "fit_s": fit_s, "s_per_epoch": sum(epoch_s) / len(epoch_s),
        "first_epoch_s": epoch_s[0],
        "sample_rows": sample_rows, "sample_s": sample_s, "rows_per_minute": sample_rows / sample_s * 60,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch_threads": torch.get_num_threads(),
    }


def peers_python() -> Path:
    """The Python of SDV's environment: ``$TABSYNTH_PEERS_PYTHON`` or benchmarks/.venv-peers."""
    return Path(os.environ.get("TABSYNTH_PEERS_PYTHON", PEERS_PYTHON))


def measure_sdv(model_name: str, epochs: int, device: str) -> dict:
    """SDV's own fit timed on this machine now (see the module docstring)."""
    python = peers_python()
    if not python.exists():
        raise SystemExit(f"--sdv-epochs needs SDV's environment: {python} is missing; "
                         "run `bash benchmarks/setup_peers.sh` or set TABSYNTH_PEERS_PYTHON.")
    cmd = [str(python), str(ROOT / "benchmarks" / "_sdv_speed_worker.py"), "--model", model_name,
           "--data", str(ADULT), "--epochs", str(epochs), "--device", device]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# Epochs per interleaved block (tabsynth, SDV): ~5-10 s of training each on this machine.
INTERLEAVE_EPOCHS = {"CTGAN": (6, 3), "TVAE": (30, 10)}


def interleaved_epochs(model_name: str, rounds: int, device: str) -> list[dict]:
    """Alternate short tabsynth and SDV fits; per round, each engine's median seconds per epoch."""
    import statistics

    import tabsynth as ts

    real = ts.read_table(ADULT)
    meta = ts.Metadata.infer(real)
    ours_epochs, sdv_epochs = INTERLEAVE_EPOCHS[model_name]
    out = []
    for r in range(rounds):
        model = getattr(ts, model_name)(epochs=ours_epochs, batch_size=500, device=device, random_state=r,
                                        verbose=False)
        model.fit(real, metadata=meta)
        ours = statistics.median(h["seconds"] for h in model.loss_history_[1:])  # the first epoch warms up
        sdv = measure_sdv(model_name, sdv_epochs, device)
        out.append({"ours_s_per_epoch": ours, "sdv_s_per_epoch": sdv["s_per_epoch"], "sdv_fixed_s": sdv["fixed_s"]})
        print(f"  {model_name} round {r + 1}: tabsynth {ours:.3f} s/epoch, SDV {sdv['s_per_epoch']:.3f} s/epoch",
              file=sys.stderr, flush=True)
    return out


def print_header(header: str) -> None:
    """A table's column names and a rule under them."""
    print(header)
    print("-" * len(header))


def print_interleaved(results: list[dict]) -> None:
    import statistics

    print(f"\nInterleaved: {len(results[0]['interleaved'])} rounds of a short tabsynth fit then a short SDV fit "
          "(epochs per block: " + ", ".join(f"{m} {a}/{b}" for m, (a, b) in INTERLEAVE_EPOCHS.items())
          + f"); fits projected to {results[0]['epochs']} epochs from the median epochs and each engine's fixed costs:")
    header = (f"{'model':6} {'tabsynth s/epoch':>16} {'SDV s/epoch':>11} {'per epoch':>9} "
              f"{'tabsynth fit s':>14} {'SDV fit s':>9} {'speed-up':>8}")
    print_header(header)
    for r in results:
        rounds = r["interleaved"]
        ours = statistics.median(x["ours_s_per_epoch"] for x in rounds)
        sdv = statistics.median(x["sdv_s_per_epoch"] for x in rounds)
        ratio = statistics.median(x["sdv_s_per_epoch"] / x["ours_s_per_epoch"] for x in rounds)
        # Encoder, setup and the first (warm-up) epoch, from the full fit; then the median epochs.
        ours_fixed = r["fit_s"] - (r["s_per_epoch"] * r["epochs"] - r["first_epoch_s"])
        ours_fit = ours_fixed + ours * (r["epochs"] - 1)
        sdv_fit = statistics.median(x["sdv_fixed_s"] for x in rounds) + sdv * r["epochs"]
        print(f"{r['model']:6} {ours:16.3f} {sdv:11.3f} {ratio:8.2f}x {ours_fit:14.1f} {sdv_fit:9.1f} "
              f"{sdv_fit / ours_fit:7.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+", default=["CTGAN", "TVAE"])
    parser.add_argument("--sample-rows", type=int, default=1_000_000)
    parser.add_argument("--save", default=None, help="directory to keep the fitted models in")
    parser.add_argument("--sdv-epochs", type=int, default=0,
                        help="also time SDV side by side over this many epochs (0: only the fixed reference)")
    parser.add_argument("--interleave", type=int, default=0,
                        help="also alternate this many rounds of short tabsynth and SDV fits (needs SDV's environment)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(measure(args.child, args.epochs, args.device, args.sample_rows, args.save)))
        return
    peers = peers_python()
    if (args.sdv_epochs or args.interleave) and not peers.exists():  # fail before the long tabsynth fits
        raise SystemExit(f"--sdv-epochs and --interleave need SDV's environment: {peers} is missing; "
                         "run `bash benchmarks/setup_peers.sh` or set TABSYNTH_PEERS_PYTHON.")

    results = []
    for name in args.models:
        cmd = [sys.executable, __file__, "--child", name, "--epochs", str(args.epochs), "--device", args.device,
               "--sample-rows", str(args.sample_rows)] + (["--save", args.save] if args.save else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"done {name}: fit {results[-1]['fit_s']:.1f} s", file=sys.stderr, flush=True)
        if args.sdv_epochs:
            results[-1]["sdv"] = measure_sdv(name, args.sdv_epochs, args.device)
            print(f"done SDV {name}: {results[-1]['sdv']['s_per_epoch']:.3f} s/epoch", file=sys.stderr, flush=True)
        if args.interleave:
            results[-1]["interleaved"] = interleaved_epochs(name, args.interleave, args.device)

    print(f"\nAdult train ({results[0]['rows']:,} rows), batch 500, {args.epochs} epochs, "
          f"device {results[0]['device']}, torch threads {results[0]['torch_threads']}")
    header = (f"{'model':6} {'encoder s':>9} {'s/epoch':>8} {'fit s':>8} {'SDV fit s':>9} {'speed-up':>8} "
              f"{'sample rows/min':>15} {'vs SDV':>7} {'peak RSS MiB':>12}")
    print_header(header)
    for r in results:
        reference = sdv_reference_fit_s(r["model"], r["epochs"])
        sample_ratio = r["rows_per_minute"] / 60 / SDV_SAMPLE_ROWS_PER_S[r["model"]]
        print(f"{r['model']:6} {r['encoder_fit_s']:9.2f} {r['s_per_epoch']:8.3f} {r['fit_s']:8.1f} {reference:9.1f} "
              f"{reference / r['fit_s']:7.2f}x {r['rows_per_minute']:15,.0f} {sample_ratio:6.1f}x "
              f"{r['peak_rss_mib']:12.0f}")
    print(f"\nSDV encoder reference: {SDV_ENCODER_S:.0f} s on 26,049 rows. "
          "Targets: fit >= 3x faster than SDV, sampling >= 1,000,000 rows/min.")
    measured = [r for r in results if "sdv" in r]
    if measured:
        print(f"\nSDV {measured[0]['sdv']['versions']['sdv']} timed in this run on the same file "
              f"({measured[0]['sdv']['epochs']} epochs timed, projected to {args.epochs}):")
        header = (f"{'model':6} {'SDV encoder s':>13} {'SDV fixed s':>11} {'SDV s/epoch':>11} {'SDV fit s':>9} "
                  f"{'tabsynth fit s':>14} {'speed-up':>8} {'per epoch':>9}")
        print_header(header)
        for r in measured:
            sdv = r["sdv"]
            projected = sdv["fixed_s"] + sdv["s_per_epoch"] * r["epochs"]
            print(f"{r['model']:6} {sdv['encoder_s']:13.1f} {sdv['fixed_s']:11.1f} {sdv['s_per_epoch']:11.3f} "
                  f"{projected:9.1f} {r['fit_s']:14.1f} {projected / r['fit_s']:7.2f}x "
                  f"{sdv['s_per_epoch'] / r['s_per_epoch']:8.2f}x")
    if any("interleaved" in r for r in results):
        print_interleaved([r for r in results if "interleaved" in r])
    print(json.dumps(results))


if __name__ == "__main__":
    main()
