"""Command line: a thin layer over the public API (no logic lives only here).

    tabsynth fit DATA -o MODEL_DIR [--model autoregressive|ctgan|tvae] [--epochs N] [--metadata JSON] [--seed S]
                                   [--epsilon E [--delta D]]   (differential privacy, any model)
    tabsynth fit CHILD [CHILD2 ...] --key COL [--order-by COL] [--parent PARENT] -o MODEL_DIR   (parent-child)
    tabsynth sample MODEL_DIR -n N -o OUT [--condition COL=VALUE | COL=LOW..HIGH | COL=null ...] [--seed S]
                                          (parent-child: N parents, OUT a folder, [--format csv|parquet])
    tabsynth impute MODEL_DIR DATA -o OUT [--seed S]
    tabsynth metadata DATA -o META_JSON [--schema-only]
    tabsynth report --real R --synthetic S [--holdout H --target T] [--model MODEL_DIR] -o OUT
    tabsynth report --key COL [--order-by COL] --real CHILD --synthetic CHILD [--holdout CHILD]
                    [--real-parents P --synthetic-parents P --holdout-parents P] [--target T | --calibration-end D]
    tabsynth audit DATA [--model autoregressive|tvae|ctgan] [--epsilon E] --canaries M -o AUDIT_JSON
    tabsynth demo
    tabsynth images fit|sample|augment|evaluate|demo   (see tabsynth.images.cli)

Errors print one line and exit with status 1 (2 for bad usage); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import time
import warnings
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from tabsynth.images.cli import images_app
from tabsynth.io import read_table, same_file, write_table
from tabsynth.metadata import Metadata
from tabsynth.models import MODELS, load_model
from tabsynth.persistence import check_model_destination
from tabsynth.privacy import DPConfig

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="tabsynth: turn a sensitive table into a synthetic one you can share.")
app.add_typer(images_app, name="images")
console = Console(soft_wrap=True)
err_console = Console(stderr=True)
_state = {"debug": False}

# The bundled e-commerce table used by `tabsynth demo`.
SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
DEMO_TABLE = "online_shoppers.csv.gz"


# The registry's names, spelled as in config.json (the first is the default).
ModelName = Enum("ModelName", {name: name for name in MODELS}, type=str)
DEFAULT_MODEL = ModelName(next(iter(MODELS)))
# One default for every command that runs a model.
DEFAULT_DEVICE = "auto"
_DEVICE_HELP = "auto (a GPU when there is one), cpu or cuda."


def _new_model(name: ModelName, **params):
    """Instantiate a model, leaving out options not given (None) so each keeps its own default."""
    return MODELS[name.value](**{k: v for k, v in params.items() if v is not None})


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")) -> None:
    _state["debug"] = debug


def _refuse_overwriting(inputs: list[Path], output: Path) -> None:
    """Refuse an output that is an input, holds one (an input's folder or above), or lies inside
    an input folder (a model directory)."""
    target = Path(os.path.abspath(output))
    for source in inputs:
        if same_file(source, output):
            raise ValueError(f"Output '{output}' is the input file '{source}'; choose another output name.")
        resolved = Path(os.path.abspath(source))
        if target in resolved.parents:
            raise ValueError(f"Output '{output}' holds the input '{source}'; write the output to a new folder "
                             "that does not contain your data (for example runs/my-model).")
        if resolved in target.parents:
            raise ValueError(f"Output '{output}' lies inside the input '{source}'; write it elsewhere.")


def _load_metadata(path: Optional[Path]) -> Optional[Metadata]:
    return None if path is None else Metadata.load(path)


@app.command()
def fit(
    data: list[Path] = typer.Argument(..., help="Training table (.csv, .csv.gz or .parquet); with --key, the "
                                                "child table(s) of a parent-child fit."),
    output: Path = typer.Option(..., "-o", "--output", help="Directory to write the fitted model to."),
    model: ModelName = typer.Option(DEFAULT_MODEL, "--model", help="Model family."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1,
                                         help="Training epochs (most epochs for autoregressive, which stops "
                                              "early; default: the model's own)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Rows per training step."),
    metadata: Optional[Path] = typer.Option(None, "--metadata", help="Metadata JSON (see `tabsynth metadata`)."),
    device: str = typer.Option(DEFAULT_DEVICE, "--device", help=_DEVICE_HELP),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed for reproducible fits."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    checkpoint_every: int = typer.Option(25, "--checkpoint-every", min=1,
                                         help="Save the model to the output directory every N epochs."),
    epsilon: Optional[float] = typer.Option(None, "--epsilon",
                                            help="Fit with differential privacy at this total epsilon (every "
                                                 "statistic and DP-SGD, one accountant)."),
    delta: float = typer.Option(1e-5, "--delta", help="Total delta of a DP fit (below 1 / rows)."),
    key: Optional[str] = typer.Option(None, "--key", help="Parent-child fit: the column linking each child row "
                                                          "to its parent (customer id)."),
    order_by: Optional[str] = typer.Option(None, "--order-by", help="Parent-child fit: the child column giving "
                                                                    "the order (dates or integers)."),
    parent: Optional[Path] = typer.Option(None, "--parent", help="Parent-child fit: the parent table (one row "
                                                                 "per key); default: the set of keys."),
    layout: str = typer.Option("sequence", "--layout", help="Parent-child fit: how the child table(s) are "
                                                            "learned: sequence, or wide (a short panel as columns "
                                                            "of its parent's row; under --epsilon give "
                                                            "--max-children too)."),
    max_children: Optional[int] = typer.Option(None, "--max-children", min=1,
                                               help="Parent-child fit: keep each parent's first N children per "
                                                    "table (default under --epsilon: 16)."),
) -> None:
    """Fit a model on DATA and save it to a directory (with checkpoints there during training).

    With --key: a parent-child model (tabsynth.ParentChild) of the child table(s) DATA and
    their parents (--parent, or the keys alone)."""
    inputs = list(data) + [p for p in (metadata, parent) if p is not None]
    _refuse_overwriting(inputs, output)
    check_model_destination(output)  # before a long fit, not after it
    if key is not None:
        if metadata is not None:
            raise ValueError("--metadata is not available for parent-child fits (--key) yet.")
        from tabsynth.relational.cli import fit_parent_child

        fit_parent_child(data, output, key=key, order_by=order_by, parent=parent, epochs=epochs,
                         batch_size=batch_size, device=device, seed=seed, quiet=quiet, console=console,
                         dp=None if epsilon is None else DPConfig(epsilon=epsilon, delta=delta), layout=layout,
                         max_children=max_children)
        return
    if order_by is not None or parent is not None or layout != "sequence" or max_children is not None:
        raise ValueError("--order-by, --parent, --layout and --max-children belong to a parent-child fit: give "
                         "--key too.")
    if len(data) != 1:
        raise ValueError(f"Give one training table (got {len(data)}); several tables need --key (parent-child).")
    data = data[0]
    dp = None
    if epsilon is not None:
        dp = DPConfig(epsilon=epsilon, delta=delta)
        if "dp" not in inspect.signature(MODELS[model.value]).parameters:
            with_dp = [name for name, cls in MODELS.items() if "dp" in inspect.signature(cls).parameters]
            raise ValueError(f"--epsilon: model '{model.value}' has no differentially private mode yet; "
                             f"use --model {' or '.join(with_dp)}.")
    table = read_table(data)
    estimator = _new_model(model, epochs=epochs, batch_size=batch_size, device=device, random_state=seed,
                           verbose=not quiet, dp=dp)
    start = time.perf_counter()
    estimator.fit(table, metadata=_load_metadata(metadata), checkpoint_dir=output, checkpoint_every=checkpoint_every)
    estimator.save(output)
    console.print(f"Fitted {type(estimator).__name__} on {len(table):,} rows x {table.shape[1]} columns "
                  f"in {time.perf_counter() - start:.1f} s on {estimator.device_}; saved to {output}")
    if estimator.privacy_ is not None:
        if quiet:  # a verbose fit printed these as it went
            for line in [*estimator.privacy_notes_, "DP: privacy ledger", estimator.privacy_ledger_.summary()]:
                console.print(line, highlight=False, markup=False)
        ledger = estimator.privacy_
        console.print(f"Differential privacy: epsilon {ledger['epsilon']:.3f}, delta {ledger['delta']:.2e} over "
                      f"{len(ledger['mechanisms'])} mechanisms ({ledger['accountant']}); ledger in "
                      f"{output / 'privacy.json'}", highlight=False)


# What `--condition COL=null` asks for: null cells.
NULL_CONDITION = "null"


def _parse_conditions(items: list[str], metadata: Metadata) -> dict:
    """``--condition`` items -> the ``conditions`` of ``sample``, as the Python API takes them.

    ``COL=VALUE`` -> the value; ``COL=null`` -> None (nulls); ``COL=LOW..HIGH`` (either side
    may be empty) on a numerical or datetime column -> a ``(low, high)`` range; the same
    categorical column given several times -> the list of its allowed values.
    """
    conditions: dict = {}
    for item in items:
        column, sep, text = item.partition("=")
        if not sep or not column:
            raise ValueError(f"--condition '{item}' must look like COLUMN=VALUE, COLUMN=LOW..HIGH or COLUMN=null.")
        kind = metadata[column].kind if column in metadata.columns else None
        if kind in ("numerical", "datetime") and ".." in text:
            low, _, high = text.partition("..")
            value = (low.strip() or None, high.strip() or None)
        else:
            value = None if text == NULL_CONDITION else text
        if column not in conditions:
            conditions[column] = value
        elif kind == "categorical":
            previous = conditions[column]
            conditions[column] = [*(previous if isinstance(previous, list) else [previous]), value]
        else:
            takes = "one value or one LOW..HIGH range" if kind in ("numerical", "datetime") else "one condition"
            raise ValueError(f"--condition gives column '{column}' twice; a {kind or 'unknown'} column takes {takes} "
                             "(repeat --condition only for categories).")
    return conditions


@app.command()
def sample(
    model_dir: Path = typer.Argument(..., help="Directory written by `tabsynth fit`."),
    n: int = typer.Option(..., "-n", "--rows", min=1, help="Number of rows to generate."),
    output: Path = typer.Option(..., "-o", "--output", help="Output table (.csv, .csv.gz or .parquet)."),
    condition: list[str] = typer.Option(
        [], "--condition", help="COLUMN=VALUE, COLUMN=LOW..HIGH or COLUMN=null; repeat for several columns, "
                                "or for several allowed categories of one column."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed for reproducible samples."),
    device: str = typer.Option(DEFAULT_DEVICE, "--device", help=_DEVICE_HELP),
    table_format: str = typer.Option("csv", "--format", help="Parent-child models: csv or parquet files."),
) -> None:
    """Generate N synthetic rows from a saved model (a parent-child model: N parents with their
    children, one file per table in the folder OUTPUT)."""
    _refuse_overwriting([model_dir], output)
    estimator = load_model(model_dir, device=device)
    if getattr(estimator, "name", None) == "parent-child":
        from tabsynth.relational.cli import sample_parent_child

        conditions = _parse_conditions(condition, estimator.parent_model_.metadata_) or None
        return sample_parent_child(estimator, n, output, conditions=conditions, table_format=table_format,
                                   seed=seed, console=console)
    start = time.perf_counter()
    conditions = _parse_conditions(condition, estimator.metadata_) or None
    frame = estimator.sample(n, conditions=conditions, random_state=seed)
    write_table(frame, output)
    console.print(f"Wrote {len(frame):,} synthetic rows to {output} in {time.perf_counter() - start:.1f} s")


@app.command()
def impute(
    model_dir: Path = typer.Argument(..., help="Directory written by `tabsynth fit` (autoregressive model)."),
    data: Path = typer.Argument(..., help="Table whose missing cells to fill (.csv, .csv.gz or .parquet)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output table; every non-missing cell is kept."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed for reproducible fills."),
    device: str = typer.Option(DEFAULT_DEVICE, "--device", help=_DEVICE_HELP),
) -> None:
    """Fill the missing cells of DATA from the model, given each row's other cells."""
    _refuse_overwriting([data, model_dir], output)
    estimator = load_model(model_dir, device=device)
    if not hasattr(estimator, "impute"):
        raise ValueError(f"The model in '{model_dir}' is {type(estimator).__name__}, which cannot impute; "
                         "fit an autoregressive model (the default of `tabsynth fit`).")
    table = read_table(data)
    filled = estimator.impute(table, random_state=seed)
    write_table(filled, output)
    n_filled = int(table[estimator.encoder_.columns_].isna().sum().sum())
    console.print(f"Filled {n_filled:,} missing cells of {len(table):,} rows; wrote {output}")


def _parse_thresholds(items: list[str], option: str) -> dict[str, float]:
    thresholds = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            thresholds[key] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key:
            raise ValueError(f"{option} '{item}' must look like KEY=NUMBER, e.g. fidelity.column_shapes=0.9.")
    return thresholds


# Exit status of `tabsynth report` when a --fail-under / --fail-over threshold is broken.
EXIT_THRESHOLD = 3


@app.command()
def report(
    real: Path = typer.Option(..., "--real", help="Training table the generator learned from."),
    synthetic: Path = typer.Option(..., "--synthetic", help="Synthetic table to judge."),
    output: Path = typer.Option(..., "-o", "--output", help="HTML report to write."),
    holdout: Optional[Path] = typer.Option(None, "--holdout", help="Real rows the generator never saw."),
    target: Optional[str] = typer.Option(None, "--target", help="Column to predict for the utility section."),
    metadata: Optional[Path] = typer.Option(None, "--metadata", help="Metadata JSON (default: inferred)."),
    json_output: Optional[Path] = typer.Option(None, "--json", help="Also write the report as JSON here."),
    fail_under: list[str] = typer.Option([], "--fail-under", help="KEY=VALUE: exit 3 if the figure is below."),
    fail_over: list[str] = typer.Option([], "--fail-over", help="KEY=VALUE: exit 3 if the figure is above."),
    no_anonymeter: bool = typer.Option(False, "--no-anonymeter", help="Skip Anonymeter's attacks."),
    seed: int = typer.Option(0, "--seed"),
    model_dir: Optional[Path] = typer.Option(None, "--model", help="Model directory that generated SYNTHETIC: "
                                                                   "adds its differential-privacy ledger."),
    key: Optional[str] = typer.Option(None, "--key", help="Relational report: REAL, SYNTHETIC and HOLDOUT are "
                                                          "child tables linked to parents by this column."),
    order_by: Optional[str] = typer.Option(None, "--order-by", help="Relational report: the children's order "
                                                                    "column."),
    real_parents: Optional[Path] = typer.Option(None, "--real-parents", help="Relational report: real parents."),
    synthetic_parents: Optional[Path] = typer.Option(None, "--synthetic-parents",
                                                     help="Relational report: synthetic parents."),
    holdout_parents: Optional[Path] = typer.Option(None, "--holdout-parents",
                                                   help="Relational report: held-out real parents."),
    calibration_end: Optional[str] = typer.Option(None, "--calibration-end",
                                                  help="Relational report: repeat-purchase task with features "
                                                       "up to this date (e.g. 1997-09-30)."),
) -> None:
    """Fidelity, utility and privacy-risk report of SYNTHETIC against REAL (and HOLDOUT).

    With --key: the relational report (cardinality, parent-to-child trends, sequence
    coherence, and entity-level detection, utility and privacy)."""
    from tabsynth.evaluation import evaluate

    parents = (real_parents, synthetic_parents, holdout_parents)
    inputs = [p for p in (real, synthetic, holdout, metadata, *parents) if p is not None]
    for out in (output, json_output):
        if out is not None:
            _refuse_overwriting(inputs, out)
    under, over = _parse_thresholds(fail_under, "--fail-under"), _parse_thresholds(fail_over, "--fail-over")
    if key is not None:
        from tabsynth.relational import evaluate_relational

        def table(path):
            return None if path is None else read_table(path)

        result = evaluate_relational(table(real_parents), read_table(real), table(synthetic_parents),
                                     read_table(synthetic), None if holdout is None else
                                     (table(holdout_parents), read_table(holdout)), key=key, order_by=order_by,
                                     target=target, calibration_end=calibration_end, random_state=seed)
    else:
        if any(p is not None for p in (order_by, calibration_end, *parents)):
            raise ValueError("--order-by, --calibration-end and the --*-parents tables belong to the relational "
                             "report: give --key too.")
        result = evaluate(read_table(real), read_table(synthetic), None if holdout is None else read_table(holdout),
                          target=target, metadata=_load_metadata(metadata), anonymeter=not no_anonymeter,
                          random_state=seed, model=model_dir)
    result.to_html(output)
    if json_output is not None:
        result.to_json(json_output)
    console.print(_headline_table(result))
    console.print(f"Wrote {output}" + (f" and {json_output}" if json_output else ""))
    broken = result.failures(under, over)
    for line in broken:
        err_console.print(f"Threshold broken: {line}", highlight=False, soft_wrap=True)
    if broken:
        raise typer.Exit(EXIT_THRESHOLD)


def _headline_table(result) -> Table:
    table = Table(title="Report headline")
    for header in ("figure", "value", "ideal", "key"):
        table.add_column(header, justify="right" if header in ("value", "ideal") else "left")
    for metric in result.headline:
        value = "n/a" if metric.value is None else f"{metric.value:.3f}"
        table.add_row(metric.label, value, f"{metric.ideal:.3f}", metric.key)
    for section, verdict in result.verdicts.items():
        table.add_row(f"{section} verdict", verdict, "", "")
    return table


@app.command()
def metadata(
    data: Path = typer.Argument(..., help="Table to describe."),
    output: Path = typer.Option(..., "-o", "--output", help="Metadata JSON file to write."),
    schema_only: bool = typer.Option(False, "--schema-only",
                                     help="Only what a DP fit may take as public: names, kinds, dtypes, "
                                          "nullability, formats (no categories, bounds or decimals)."),
) -> None:
    """Infer the metadata of DATA and write it as JSON to edit and pass to `fit --metadata`."""
    _refuse_overwriting([data], output)
    table = read_table(data)
    if schema_only:
        from tabsynth.privacy.schema import public_schema

        meta, _ = public_schema(table, None)
    else:
        meta = Metadata.infer(table)
    meta.save(output)
    console.print(f"Wrote {'the schema' if schema_only else 'metadata'} of {len(meta)} columns to {output}")


@app.command()
def audit(
    data: Path = typer.Argument(..., help="Training table (.csv, .csv.gz or .parquet)."),
    output: Path = typer.Option(..., "-o", "--output", help="Audit result (JSON) to write."),
    model: ModelName = typer.Option(DEFAULT_MODEL, "--model", help="Model family (one with a DP mode)."),
    epsilon: float = typer.Option(1.0, "--epsilon", help="The claim: total epsilon of the DP fit audited."),
    delta: float = typer.Option(1e-5, "--delta", help="The claim's delta."),
    canaries: int = typer.Option(1000, "--canaries", min=10, help="Canary rows, each trained on with probability 1/2."),
    rows: int = typer.Option(500, "--rows", min=1, help="Real rows trained on beside the canaries."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Training epochs (default: 100)."),
    seed: int = typer.Option(0, "--seed"),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Fit a DP model with canaries and bound its epsilon from below (one-run audit, 95% confidence)."""
    from tabsynth.io import write_text
    from tabsynth.privacy.audit import run_audit

    _refuse_overwriting([data], output)
    result = run_audit(read_table(data), model=model.value, epsilon=epsilon, delta=delta, canaries=canaries,
                       rows=rows, epochs=epochs, random_state=seed, verbose=not quiet)
    write_text(output, json.dumps(result.to_dict(), indent=2))
    verdict = "consistent with" if result.consistent else "ABOVE"
    console.print(f"Audit of {model.value} at epsilon {result.claimed_epsilon:.3f}: empirical lower bound "
                  f"{result.epsilon_lower_bound:.3f} ({result.best_attack}, {int(100 * result.confidence)}% "
                  f"confidence, {canaries} canaries), {verdict} the claim; wrote {output}", highlight=False)


@app.command()
def demo(
    model: ModelName = typer.Option(DEFAULT_MODEL, "--model", help="Model family."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Training epochs (default: the model's own)."),
    output_dir: Path = typer.Option(Path("demo_output"), "--output-dir", help="Where to write model and table."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Fit on 80% of the bundled e-commerce sessions, sample a synthetic copy, compare, and report.

    The other 20% is the holdout the report needs for utility (train on synthetic, test
    on real) and for the privacy baselines.
    """
    from tabsynth.evaluation import evaluate
    from tabsynth.metadata import Metadata

    source = SAMPLE_DATA / DEMO_TABLE
    if not source.is_file():
        raise FileNotFoundError(f"Bundled demo data '{source}' is missing; run from a full checkout of tabsynth.")
    table = read_table(source)
    meta = Metadata.infer(table)
    holdout = table.sample(frac=0.2, random_state=seed)
    real = table.drop(index=holdout.index).reset_index(drop=True)
    console.print(f"Real table: {source.name}, {len(table):,} sessions x {table.shape[1]} columns; "
                  f"training on {len(real):,}, holding out {len(holdout):,}")
    estimator = _new_model(model, epochs=epochs, random_state=seed)
    start = time.perf_counter()
    estimator.fit(real, metadata=meta)
    fit_seconds = time.perf_counter() - start
    synthetic = estimator.sample(len(real), random_state=seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    estimator.save(output_dir / "model")
    out = write_table(synthetic, output_dir / "online_shoppers_synthetic.csv")
    epochs_run = len(getattr(estimator, "loss_history_", [])) or estimator.epochs
    console.print(f"Fitted {type(estimator).__name__} ({epochs_run} epochs) in {fit_seconds:.1f} s; "
                  f"wrote {len(synthetic):,} synthetic rows to {out}")
    console.print(_summary_table(real, synthetic))
    result = evaluate(real, synthetic, holdout.reset_index(drop=True), target="Revenue", metadata=meta,
                      random_state=seed)
    result.to_html(output_dir / "report.html")
    result.to_json(output_dir / "report.json")
    console.print(_headline_table(result))
    console.print(f"Report: {output_dir / 'report.html'} (JSON: {output_dir / 'report.json'})")


def _summary_table(real, synthetic) -> Table:
    """Side-by-side statistics of a few numerical and categorical columns."""
    table = Table(title="Real vs synthetic (a few columns)")
    for header in ("column", "statistic", "real", "synthetic"):
        table.add_column(header, justify="right" if header in ("real", "synthetic") else "left")
    for column in ("ProductRelated_Duration", "PageValues", "BounceRates"):
        for label, fn in (("mean", "mean"), ("median", "median"), ("std", "std")):
            table.add_row(column, label, f"{getattr(real[column], fn)():.3f}", f"{getattr(synthetic[column], fn)():.3f}")
    for column, value in (("Revenue", True), ("VisitorType", "New_Visitor"), ("Month", "Nov"), ("Weekend", True)):
        table.add_row(column, f"share {value}", f"{(real[column] == value).mean():.3f}",
                      f"{(synthetic[column] == value).mean():.3f}")
    return table


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line on stderr, like errors (no source path and line)."""
    err_console.print(f"Warning: {message}", highlight=False, soft_wrap=True)


def main() -> None:
    """Entry point: run the app, turning errors into one clear line and a non-zero exit."""
    warnings.showwarning = _show_warning
    try:
        # Without standalone mode, click returns (not raises) the code of a typer.Exit.
        status = app(standalone_mode=False)
        sys.exit(status if isinstance(status, int) else 0)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code or 0)
    except typer.Abort:
        err_console.print("Aborted.")
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - the CLI's job is to report any error in one line
        # Usage errors from the parser (typer ships its own click) carry exit_code and format_message.
        if hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int):
            prefix = "Usage error" if exc.exit_code == 2 else "Error"
            err_console.print(f"{prefix}: {exc.format_message()}", highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        if _state["debug"]:
            raise
        message = str(exc).strip('"') if isinstance(exc, KeyError) else str(exc)
        err_console.print(f"Error: {message}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
