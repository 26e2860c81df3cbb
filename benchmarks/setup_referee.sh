#!/usr/bin/env bash
# Creates benchmarks/.venv-referee with SDMetrics, the benchmark-only referee.
# SDMetrics pins pandas<3, which clashes with tabsynth's environment, so it lives in its
# own virtual environment and reads the tables the benchmarks write as Parquet.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv-referee
.venv-referee/bin/pip install -q "sdmetrics>=0.14" "pandas<3" pyarrow
.venv-referee/bin/python -c "import sdmetrics; print('sdmetrics', sdmetrics.__version__)"
