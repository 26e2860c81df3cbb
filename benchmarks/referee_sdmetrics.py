"""SDMetrics QualityReport as an outside referee; runs in benchmarks/.venv-referee.

Usage (called by the benchmark scripts)::

    .venv-referee/bin/python referee_sdmetrics.py REAL.parquet SYNTH.parquet METADATA.json

Prints one JSON object: {"column_shapes": float, "column_pair_trends": float, "overall": float}.
METADATA.json is tabsynth's metadata; its kinds are mapped to SDMetrics sdtypes here.
"""

import json
import sys

import pandas as pd
from sdmetrics.reports.single_table import QualityReport

SDTYPE = {"numerical": "numerical", "categorical": "categorical", "datetime": "datetime",
          "id": "id", "constant": "categorical"}


def main() -> None:
    real_path, synth_path, meta_path = sys.argv[1:4]
    real, synth = pd.read_parquet(real_path), pd.read_parquet(synth_path)
    columns = json.load(open(meta_path))["columns"]
    metadata = {"columns": {c["name"]: {"sdtype": SDTYPE[c["kind"]]} for c in columns}}
    report = QualityReport()
    report.generate(real, synth, metadata, verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    print(json.dumps({"column_shapes": float(props["Column Shapes"]),
                      "column_pair_trends": float(props["Column Pair Trends"]),
                      "overall": float(report.get_score())}))


if __name__ == "__main__":
    main()
