"""`tabsynth images ...` end to end on real MNIST digits, as a user runs it (a subprocess per command)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tabsynth.images import balanced_subset, load_images, save_images


def run(*args):
    return subprocess.run([sys.executable, "-m", "tabsynth.cli", "images", *map(str, args)], capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def small(tmp_path_factory, mnist_train, mnist_test):
    """500 training and 500 test digits (50 per class) as .npz files."""
    folder = tmp_path_factory.mktemp("mnist")
    rng = np.random.default_rng(0)
    train = save_images(balanced_subset(mnist_train, 50, rng), folder / "train.npz")
    test = save_images(balanced_subset(mnist_test, 50, rng), folder / "test.npz")
    return train, test


def test_fit_sample_augment_evaluate(small, tmp_path):
    train, test = small
    model_dir = tmp_path / "vae"
    fitted = run("fit", train, "--model", "vae", "-o", model_dir, "--epochs", "2", "--device", "cpu", "--quiet")
    assert fitted.returncode == 0, fitted.stderr
    assert "Fitted ConvVAE on 500 images" in fitted.stdout and "(2 epochs)" in fitted.stdout
    assert json.loads((model_dir / "config.json").read_text())["epochs_trained"] == 2

    out = tmp_path / "fake.npz"
    sampled = run("sample", model_dir, "-n", "200", "-o", out, "--seed", "1")
    assert sampled.returncode == 0, sampled.stderr
    with np.load(out) as archive:
        assert archive["x"].shape == (200, 28, 28) and archive["x"].dtype == np.uint8
        assert np.bincount(archive["y"]).tolist() == [20] * 10
    pngs = tmp_path / "threes"
    assert run("sample", model_dir, "-n", "12", "--label", "3", "-o", pngs).returncode == 0
    assert sorted(p.name for p in pngs.iterdir()) == ["3", "labels.csv"] and len(list((pngs / "3").iterdir())) == 12

    augmented = tmp_path / "augmented.npz"
    result = run("augment", train, "-o", augmented, "--copies", "2", "--seed", "0")
    assert result.returncode == 0, result.stderr
    assert len(load_images(augmented)) == 1500

    report = tmp_path / "report.html"
    evaluated = run("evaluate", "--synthetic", out, "--real", train, "--holdout", test, "-o", report, "--json",
                    tmp_path / "report.json", "--tstr-seeds", "1", "--tstr-epochs", "1", "--model", model_dir)
    assert evaluated.returncode == 0, evaluated.stderr
    page = report.read_text()
    assert "Synthetic image report" in page and "data:image/png;base64," in page and "TSTR accuracy" in page
    payload = json.loads((tmp_path / "report.json").read_text())
    assert set(payload["sections"]) == {"utility", "fidelity", "privacy"}
    assert payload["counts"] == {"synthetic": 200, "real": 500, "holdout": 500}


def test_dp_fit_prints_and_saves_its_ledger(small, tmp_path):
    train, _ = small
    result = run("fit", train, "--model", "vae", "-o", tmp_path / "dp", "--epochs", "1", "--epsilon", "3",
                 "--delta", "1e-4", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "Privacy: epsilon 2.9" in result.stdout and "PLD (dp-accounting)" in result.stdout
    ledger = json.loads((tmp_path / "dp" / "privacy.json").read_text())
    assert 2.97 <= ledger["epsilon"] <= 3.0 and ledger["neighbouring"] == "add or remove one image"


def test_errors_are_one_clear_line(small, tmp_path):
    train, _ = small
    result = run("fit", train, "--model", "mlp-gan", "-o", tmp_path / "m", "--epsilon", "1")
    assert result.returncode == 1
    assert result.stderr.strip() == ("Error: --epsilon is available for --model dcgan and --model vae (mlp-gan has "
                                     "no DP mode).")
    (tmp_path / "notes.txt").write_text("x")
    result = run("fit", tmp_path / "notes.txt", "-o", tmp_path / "m")
    assert result.returncode == 1 and "give a .npz file" in result.stderr


def test_demo_ends_with_the_report(tmp_path):
    out = tmp_path / "demo"
    result = run("demo", "--output-dir", out, "--train-images", "1000", "--epochs", "1")
    assert result.returncode == 0, result.stderr
    assert "Fitted ConvVAE on 1,000 MNIST images (1 epochs)" in result.stdout and "Report:" in result.stdout
    assert {p.name for p in out.iterdir()} == {"model", "synthetic.npz", "report.html", "report.json"}
    assert json.loads((out / "report.json").read_text())["counts"]["synthetic"] == 10_000
