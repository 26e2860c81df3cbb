#!/usr/bin/env bash
# Creates benchmarks/.venv-peers with the peer generators that benchmarks/quality_vs_peers.py
# compares tabsynth with: SDV (CTGANSynthesizer, TVAESynthesizer) and MOSTLY AI's engine
# (TabularARGN). mostlyai-engine 2.7 needs numpy>=2, transformers>=5 and torch 2.13 with
# torchvision 0.28 / torchaudio 2.11, and SDV pins pandas<3, which clash with tabsynth's
# environment, so the peers live in their own virtual environment: the benchmark runs
# benchmarks/_peer_worker.py under this Python and trades tables as Parquet.
#
# CPU only, and no CUDA wheels: the CPU build torch==2.13.0 goes in first and every later
# install pins torch==2.13.0, so pip keeps it. PyPI has only CUDA builds of torchvision 0.28 and
# a torchaudio 2.11 built for torch 2.11; neither loads on the CPU torch 2.13 (their C
# extensions fail) and a broken torchvision breaks `import transformers`, so they are left
# out: TabularARGN never imports them. xgrammar (used only by the engine's LanguageModel) goes
# in without `triton`, a ~1 GB GPU compiler with NVIDIA binaries. mostlyai-engine therefore
# goes in without dependencies, and the ones it does use are listed and pinned below.
# `pip check` must report exactly those three absences (torchvision, torchaudio, triton).
# Versions are pinned so the run is reproducible; this set co-installs.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv --clear .venv-peers
PIP=(.venv-peers/bin/pip install -q --disable-pip-version-check)
"${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" --no-deps "mostlyai-engine==2.7.0" "xgrammar==0.2.8"
"${PIP[@]}" \
    "torch==2.13.0" \
    "sdv==2.0.0" \
    "numpy==2.4.6" "pandas==2.3.3" "pyarrow==26.0.1" "scikit-learn==1.9.1" "psutil==5.9.8" \
    "transformers==5.23.0" "tokenizers==0.23.3" "accelerate==1.15.0" "peft==0.21.2" \
    "datasets==5.2.0" "huggingface-hub[hf-xet]==2.4.0" "opacus==1.6.0" "joblib==1.6.0" \
    "json-repair==0.64.5" "apache-tvm-ffi==0.1.15.post2" "pydantic==2.14.3"
problems=$(.venv-peers/bin/pip check 2>&1 \
    | grep -vE "^(xgrammar [^ ]+ requires triton|mostlyai-engine [^ ]+ requires torch(vision|audio)), which is not installed" \
    || true)
if [ -n "$problems" ] && [ "$problems" != "No broken requirements found." ]; then
    echo "$problems" >&2
    exit 1
fi
if .venv-peers/bin/pip list 2>/dev/null | grep -iE "^(nvidia-|triton )"; then
    echo "CUDA wheels were pulled into .venv-peers" >&2
    exit 1
fi
.venv-peers/bin/python -c "
import torch, sdv, mostlyai.engine as engine
assert not torch.version.cuda, torch.version.cuda
print('torch', torch.__version__, '+ sdv', sdv.__version__, '+ mostlyai-engine', engine.__version__)"
