"""Shared fixtures: the real tables the tests run on, each read once per session.

The tables are returned as loaded by :func:`tabsynth.read_table` and are shared by
every test of the session (unit and integration): treat them as read-only and
``.copy()`` before changing anything.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import tabsynth

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO_ROOT / "sample_data"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def _read_sample(name: str) -> pd.DataFrame:
    path = SAMPLE_DATA / name
    if not path.is_file():
        pytest.fail(f"Sample table '{path}' is missing from the checkout.")
    return tabsynth.read_table(path)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """Root of the tabsynth checkout (the folder holding ``pyproject.toml``)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"Shared data folder '{SHARED_DATA}' is absent (it lives outside the repository).")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shoppers() -> pd.DataFrame:
    """Online Shoppers Purchasing Intention (12,330 x 18)."""
    return _read_sample("online_shoppers.csv.gz")


@pytest.fixture(scope="session")
def credit() -> pd.DataFrame:
    """Default of credit card clients, Taiwan (30,000 x 25)."""
    return _read_sample("credit_default.csv.gz")


@pytest.fixture(scope="session")
def adult_train() -> pd.DataFrame:
    """UCI Adult, training split (32,561 x 15)."""
    return _read_sample("adult_train.csv.gz")


@pytest.fixture(scope="session")
def adult_test() -> pd.DataFrame:
    """UCI Adult, test split (16,281 x 15)."""
    return _read_sample("adult_test.csv.gz")


@pytest.fixture(scope="session")
def cdnow(shared_data: Path) -> pd.DataFrame:
    """CDNOW transactions (69,659 x 4: customer_id, date, number_of_cds, dollar_value)."""
    path = shared_data / "cdnow" / "cdnow_transactions.csv"
    if not path.is_file():
        pytest.skip(f"CDNOW table '{path}' is absent from the shared data folder.")
    return tabsynth.read_table(path)


def _json_numbers(payload) -> list[float]:
    """Every number inside a JSON value."""
    if isinstance(payload, dict):
        return [x for v in payload.values() for x in _json_numbers(v)]
    if isinstance(payload, list):
        return [x for v in payload for x in _json_numbers(v)]
    return [float(payload)] if isinstance(payload, (int, float)) and not isinstance(payload, bool) else []


@pytest.fixture(scope="session")
def assert_dp_model_leaks_nothing():
    """``check(model, path, table, secret, columns)``: the DP model directory at ``path`` and 10,000 of
    the model's rows hold neither ``secret`` (a category one training row holds) nor the exact
    extremes (held by fewer than 20 rows) of the numerical ``columns``; its ledger is a DP release."""
    import json

    def check(model, path: Path, table: pd.DataFrame, secret: str, columns: list[str]) -> None:
        text = "".join(p.read_text() for p in path.iterdir() if p.suffix == ".json")
        assert secret not in text
        extremes = {}
        for column in columns:
            low, high = table[column].min(), table[column].max()
            held = (table[column] == low).sum(), (table[column] == high).sum()
            extremes[column] = [v for v, rows in zip((low, high), held) if rows < 20]
        assert any(extremes.values())  # the test has something to look for
        encoder = json.loads((path / "encoder.json").read_text())["columns"]
        metadata = {c["name"]: c for c in json.loads((path / "metadata.json").read_text())["columns"]}
        for column, values in extremes.items():
            saved = set(_json_numbers(encoder[column])) | set(_json_numbers(metadata[column]))
            assert not saved & {float(v) for v in values}, column
        synthetic = model.sample(10_000, random_state=0)
        assert secret not in set(synthetic.astype(str).to_numpy().ravel())
        for column, values in extremes.items():
            assert not synthetic[column].isin(values).any(), column
        ledger = json.loads((path / "privacy.json").read_text())
        assert {"epsilon", "delta", "accountant", "mechanisms"} <= set(ledger)
        assert ledger["epsilon"] <= model.dp.epsilon and ledger["delta"] <= model.dp.delta
        assert {"row count", "category set", "point masses", "quantile cells", "DP-SGD"} <= {
            m["name"] for m in ledger["mechanisms"]}

    return check


@pytest.fixture(scope="session")
def mnist_train():
    """MNIST's 60,000 training digits (``sample_data/mnist.npz``) as a ``tabsynth.images.ImageSet``."""
    from tabsynth.images import load_images

    path = SAMPLE_DATA / "mnist.npz"
    if not path.is_file():
        pytest.fail(f"Sample images '{path}' are missing from the checkout.")
    return load_images(path, "train")


@pytest.fixture(scope="session")
def mnist_test():
    """MNIST's 10,000 test digits."""
    from tabsynth.images import load_images

    return load_images(SAMPLE_DATA / "mnist.npz", "test")


@pytest.fixture(scope="session")
def cdnow_transactions() -> pd.DataFrame:
    """CDNOW transaction lines (69,659 x 4, 23,570 customers); skips when ../shared is absent."""
    path = SHARED_DATA / "cdnow" / "cdnow_transactions.csv"
    if not path.is_file():
        pytest.skip(f"{path} is not there (../shared beside the checkout)")
    return tabsynth.read_table(path)


@pytest.fixture(scope="session")
def cdnow_customers(cdnow_transactions):
    """``cdnow_customers(n, seed)``: the transaction lines of ``n`` CDNOW customers drawn at random."""
    import numpy as np

    def draw(n_customers: int, seed: int) -> pd.DataFrame:
        keys = np.random.default_rng(seed).choice(transactions["customer_id"].unique(), n_customers, replace=False)
        return transactions[transactions["customer_id"].isin(keys)].reset_index(drop=True)

    transactions = cdnow_transactions
    return draw
