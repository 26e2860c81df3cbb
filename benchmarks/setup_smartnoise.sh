#!/usr/bin/env bash
# Creates benchmarks/.venv-smartnoise with smartnoise-synth (MST, AIM, DP-CTGAN), the DP peers
# that benchmarks/dp_vs_peers.py compares tabsynth's DP mode with. smartnoise-synth 1.0.8 pins
# opacus<0.15 (tabsynth needs opacus 1.6) and mbi<2, so it lives in its own virtual environment;
# benchmarks/_smartnoise_worker.py runs under this Python and trades tables as Parquet.
# CPU only: the CPU build torch==2.13.0 goes in first and every later install pins it.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv --clear .venv-smartnoise
PIP=(.venv-smartnoise/bin/pip install -q --disable-pip-version-check)
"${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" "torch==2.13.0" "smartnoise-synth==1.0.8" "pyarrow>=14" "packaging"  # its DP-CTGAN imports packaging undeclared
if .venv-smartnoise/bin/pip list 2>/dev/null | grep -iE "^(nvidia-|triton )"; then
    echo "CUDA wheels were pulled into .venv-smartnoise" >&2
    exit 1
fi
.venv-smartnoise/bin/python -c "
import torch, snsynth
from snsynth import Synthesizer
assert not torch.version.cuda, torch.version.cuda
print('torch', torch.__version__, '+ smartnoise-synth', Synthesizer.list_synthesizers())"
