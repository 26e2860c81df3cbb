#!/usr/bin/env bash
# Creates benchmarks/.venv-referee with the benchmark-only referees: SDMetrics, and Anonymeter
# (used by tabsynth.evaluate's privacy section through tabsynth/evaluation/anonymeter.py).
# SDMetrics pins pandas<3 and Anonymeter pins numpy<1.27 and pyarrow<22, which clash with
# tabsynth's environment, so they live in their own virtual environment and read the
# tables tabsynth writes as Parquet. Versions are pinned so the referee is reproducible;
# this set co-installs (`pip check` is clean).
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv-referee
.venv-referee/bin/pip install -q \
    "sdmetrics==0.32.0" "anonymeter==1.1.0" \
    "pandas==2.3.3" "numpy==1.26.4" "pyarrow==21.0.0"
.venv-referee/bin/pip check
.venv-referee/bin/python -c "import sdmetrics, anonymeter.evaluators; print('sdmetrics', sdmetrics.__version__, '+ anonymeter')"
