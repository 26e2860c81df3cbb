"""Our column shapes and pair trends against SDMetrics' QualityReport, the outside referee.

SDMetrics pins pandas<3, so it runs in ``benchmarks/.venv-referee`` (create it with
``bash benchmarks/setup_referee.sh``) through ``benchmarks/referee_sdmetrics.py``; the
tests skip when that environment is absent.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest

from tabsynth.evaluation import fidelity
from tabsynth.evaluation.tables import EvaluationTables
from tabsynth.metadata import Metadata

TOLERANCE = 0.005


@pytest.fixture(scope="module")
def referee(repo_root):
    python = repo_root / "benchmarks" / ".venv-referee" / "bin" / "python"
    if not python.is_file():
        pytest.skip(f"SDMetrics referee environment '{python}' is absent; "
                    "create it with `bash benchmarks/setup_referee.sh`.")
    return python, repo_root / "benchmarks" / "referee_sdmetrics.py"


def _quality_report(referee, tables: EvaluationTables, folder) -> dict:
    python, script = referee
    metadata = Metadata([tables.metadata[c] for c in tables.columns])
    tables.real.to_parquet(folder / "real.parquet")
    tables.synthetic.to_parquet(folder / "synthetic.parquet")
    metadata.save(folder / "metadata.json")
    done = subprocess.run([str(python), str(script), str(folder / "real.parquet"),
                           str(folder / "synthetic.parquet"), str(folder / "metadata.json")],
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ours(tables: EvaluationTables) -> dict:
    columns = fidelity.column_scores(tables, tables.real, tables.synthetic)
    trends = lambda **bins: fidelity.pair_trends(  # noqa: E731
        fidelity.pair_scores(tables, tables.real, tables.synthetic, **bins))[0]
    return {"column_shapes": float(np.mean([c["score"] for c in columns])),
            "pair_trends": trends(), "pair_trends_sdmetrics_bins": trends(edges="sdmetrics")}


def _noisy(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Each column's values permuted among a random 40% of rows; numbers jittered inside their range."""
    out = frame.copy()
    for column in out.columns:
        rows = np.flatnonzero(rng.random(len(out)) < 0.4)
        out.loc[out.index[rows], column] = out[column].to_numpy()[rng.permutation(rows)]
        if pd.api.types.is_float_dtype(out[column]) and out[column].nunique() > 20:
            low, high = out[column].min(), out[column].max()
            jitter = rng.normal(0.0, 0.02 * (high - low), len(out))
            out[column] = (out[column] + jitter).clip(low, high)
    return out


def _check(ours: dict, theirs: dict) -> None:
    assert ours["column_shapes"] == pytest.approx(theirs["column_shapes"], abs=TOLERANCE)
    assert ours["pair_trends"] == pytest.approx(theirs["column_pair_trends"], abs=TOLERANCE)
    # With SDMetrics' own binning the computation is the same, up to float rounding.
    assert ours["pair_trends_sdmetrics_bins"] == pytest.approx(theirs["column_pair_trends"], abs=1e-6)


def test_adult_train_against_adult_test_matches_sdmetrics(referee, adult_train, adult_test, tmp_path):
    real = adult_train.sample(4000, random_state=1).reset_index(drop=True)
    synthetic = adult_test.sample(4000, random_state=2).reset_index(drop=True)
    tables = EvaluationTables.prepare(real, synthetic)
    _check(_ours(tables), _quality_report(referee, tables, tmp_path))


def test_shoppers_against_noisy_copy_matches_sdmetrics(referee, shoppers, tmp_path):
    real = shoppers.sample(4000, random_state=3).reset_index(drop=True)
    tables = EvaluationTables.prepare(real, _noisy(real, np.random.default_rng(4)))
    ours = _ours(tables)
    assert ours["pair_trends"] < 0.97  # the noise is visible, so the comparison is not trivial
    _check(ours, _quality_report(referee, tables, tmp_path))
