"""The HTML report opens in headless Chromium and its plots render (screenshot check)."""

from __future__ import annotations

import re
import shutil
import subprocess

import matplotlib.image as mpimg
import numpy as np
import pytest

import tabsynth as ts
from tabsynth.evaluation import evaluate

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REAL_RGB, SYNTHETIC_RGB = (0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)  # the report's plot colours


@pytest.fixture(scope="module")
def report_html(tmp_path_factory, shoppers):
    table = shoppers.sample(3000, random_state=0).reset_index(drop=True)
    meta = ts.Metadata.infer(shoppers)
    train, holdout = table.iloc[:2400].reset_index(drop=True), table.iloc[2400:].reset_index(drop=True)
    synthetic = ts.TVAE(epochs=3, random_state=0, verbose=False, device="cpu").fit(train, metadata=meta).sample(2400)
    report = evaluate(train, synthetic, holdout, target="Revenue", metadata=meta, max_rows=2000,
                      privacy_rows=800, anonymeter=False)
    path = tmp_path_factory.mktemp("report") / "report.html"
    report.to_html(path)
    return path


def test_html_is_self_contained(report_html):
    text = report_html.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']https?://""", text), "the page must make no network request"
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) >= 5  # distributions, correlations, TSTR/TRTR, DCR, ROC curves
    for section in ("fidelity", "utility", "privacy"):
        assert f'<section id="{section}">' in text


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(report_html, tmp_path):
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1200,4000",
         f"--screenshot={shot}", report_html.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    pixels = (mpimg.imread(shot)[..., :3] * 255).round().astype(int)  # (H, W, 3)
    assert pixels.shape[0] >= 4000 and pixels.shape[1] >= 1200
    # The plots rendered: both plot colours cover a visible area of the page.
    for rgb in (REAL_RGB, SYNTHETIC_RGB):
        near = (np.abs(pixels - np.array(rgb)).sum(axis=2) <= 30).sum()
        assert near > 2000, f"colour {rgb} covers only {near} pixels"
    # Keep the screenshot beside the report for a person to look at.
    shutil.copy(shot, report_html.with_suffix(".png"))
