"""The parent-child side of ``tabsynth fit --key`` and ``tabsynth sample`` (called by :mod:`tabsynth.cli`)."""

from __future__ import annotations

import time
from pathlib import Path

from tabsynth.io import CSV_SUFFIXES, PARQUET_SUFFIXES, read_table, write_table
from tabsynth.relational.model import ParentChild

FORMATS = {"csv": ".csv", "parquet": ".parquet"}


def table_stem(path: Path) -> str:
    """``transactions.csv.gz`` -> ``transactions``: the name of the table a file holds."""
    name = path.name
    for suffix in sorted(CSV_SUFFIXES + PARQUET_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def fit_parent_child(children: list[Path], output: Path, *, key: str, order_by: str | None, parent: Path | None,
                     epochs: int | None, batch_size: int | None, device: str, seed: int | None, quiet: bool,
                     console, dp=None, layout: str = "sequence", max_children: int | None = None) -> ParentChild:
    """Read the tables, fit :class:`ParentChild`, save it to ``output``.

    Raises
    ------
    ValueError
        If two inputs have the same table name, or as :meth:`ParentChild.fit`.
    """
    stems = [table_stem(path) for path in children]
    names = stems + ([table_stem(parent)] if parent is not None else [])
    if len(set(names)) != len(names):
        raise ValueError(f"Two input files have the same table name ({names}); the synthetic files are named "
                         "after them, so rename one.")
    tables = {stem: read_table(path) for stem, path in zip(stems, children)}
    parents = None if parent is None else read_table(parent)
    params = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size)) if v is not None}
    model = ParentChild(key=key, order_by=order_by, model_params=params or None, device=device, random_state=seed,
                        verbose=not quiet, dp=dp, layout=layout, max_children=max_children)
    start = time.perf_counter()
    model.fit(tables, parents=parents, parent_table_name=None if parent is None else table_stem(parent))
    model.save(output)
    rows = ", ".join(f"{name} {len(frame):,} rows" for name, frame in tables.items())
    console.print(f"Fitted ParentChild on {len(model.parent_model_.metadata_.names)}-column parents and {rows} "
                  f"in {time.perf_counter() - start:.1f} s; saved to {output}")
    if model.privacy_ is not None:
        ledger = model.privacy_
        console.print(f"Differential privacy (one parent with all its children): epsilon {ledger['epsilon']:.3f}, "
                      f"delta {ledger['delta']:.2e} over {len(ledger['mechanisms'])} mechanisms of "
                      f"{len(model.child_models_) + 1} models ({ledger['accountant']}); ledger in {output / 'privacy.json'}",
                      highlight=False)
    return model


def sample_parent_child(model: ParentChild, n: int, output: Path, *, conditions: dict | None, table_format: str,
                        seed: int | None, console) -> dict[str, Path]:
    """``n`` parents and their children written to folder ``output``, one file per table named
    after the training files (``parents`` when the parent table was the set of keys).

    Raises
    ------
    ValueError
        On an unknown ``table_format``.
    FileExistsError
        If ``output`` is a file, or one of the files to write exists already (nothing is overwritten).
    """
    if table_format not in FORMATS:
        raise ValueError(f"--format must be one of {sorted(FORMATS)}, got {table_format!r}.")
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"Output '{output}' is a file; a parent-child sample is a folder of tables.")
    start = time.perf_counter()
    parents, children = model.sample(n, conditions, random_state=seed)
    tables = {model.parent_table_: parents, **(children if isinstance(children, dict) else
                                                {model.tables_[0]: children})}
    paths = {name: output / f"{name}{FORMATS[table_format]}" for name in tables}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing:
        raise FileExistsError(f"Refusing to overwrite {existing}; choose a new output folder.")
    output.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        write_table(frame, paths[name], overwrite=False)
    summary = ", ".join(f"{name} {len(frame):,} rows" for name, frame in tables.items())
    console.print(f"Wrote {summary} to {output} in {time.perf_counter() - start:.1f} s")
    return paths
