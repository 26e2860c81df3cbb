"""Importing tabsynth and fitting a model leave the caller's floating-point mode as it was.

tabsynth 0.1 switched on flush-to-zero for denormal floats at import, in the importing thread
and in torch's worker threads, which changed the caller's own numpy / scipy / scikit-learn
arithmetic. Each check runs in a fresh interpreter, so no earlier test has touched the mode.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

# Prints whether denormals survive: in numpy (this thread) and in a torch op large enough to run
# on every worker thread, before import, after import and after fit + sample.
_PROBE = """
import sys
import numpy as np
import torch
if sys.argv[1] == "flush":
    torch.set_flush_denormal(True)

def mode():
    tiny = np.float32(1e-39)  # a denormal float32
    in_numpy = bool(np.multiply(np.full(4, tiny, dtype=np.float32), np.float32(1.0)).all())
    in_torch = bool((torch.full((1_000_000,), 1e-39) * 1.0).ne(0).all())
    return in_numpy, in_torch

before = mode()
import tabsynth as ts
after_import = mode()
table = ts.read_table(sys.argv[2]).head(600)
for cls in (ts.TVAE, ts.CTGAN, ts.Autoregressive):
    cls(epochs=1, random_state=0, verbose=False, device="cpu").fit(table).sample(50)
print(before, after_import, mode())
"""


@pytest.mark.parametrize("caller_mode", ["keep", "flush"])
def test_import_and_fit_leave_the_callers_float_mode(repo_root, caller_mode):
    table = repo_root / "sample_data" / "online_shoppers.csv.gz"
    result = subprocess.run([sys.executable, "-c", _PROBE, caller_mode, str(table)], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    keeps = caller_mode == "keep"
    expected = (keeps, keeps)  # denormals survive unless the caller itself flushed them
    assert result.stdout.strip() == f"{expected} {expected} {expected}"
