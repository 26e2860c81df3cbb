"""tabsynth: synthetic tables from sensitive ones (autoregressive flagship, CTGAN, TVAE) with reports.

Typical use::

    import tabsynth as ts
    real = ts.read_table("sample_data/online_shoppers.csv.gz")
    model = ts.Autoregressive(random_state=0).fit(real)      # or ts.CTGAN(...), ts.TVAE(...)
    synth = model.sample(10_000, conditions={"Revenue": True})
    model.save("runs/shoppers"); model = ts.load("runs/shoppers")
"""

# First, before any torch work creates worker threads: see tabsynth/_runtime.py.
from tabsynth import _runtime  # noqa: F401  (sets flush-to-zero on CPU)
from tabsynth._version import __version__
from tabsynth.encoding import TableEncoder
from tabsynth.evaluation import evaluate
from tabsynth.io import read_table, write_table
from tabsynth.metadata import ColumnMetadata, Metadata
from tabsynth.models import CTGAN, TVAE, Autoregressive, NotFittedError
from tabsynth.persistence import load_model as load
from tabsynth.persistence import save_model

__all__ = [
    "Autoregressive", "CTGAN", "ColumnMetadata", "Metadata", "NotFittedError", "TVAE", "TableEncoder",
    "__version__", "evaluate", "load", "read_table", "save_model", "write_table",
]
