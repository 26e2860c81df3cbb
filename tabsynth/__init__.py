"""tabsynth: synthetic tables from sensitive ones (autoregressive flagship, CTGAN, TVAE) with reports.

Typical use::

    import tabsynth as ts
    real = ts.read_table("sample_data/online_shoppers.csv.gz")
    model = ts.Autoregressive(random_state=0).fit(real)      # or ts.CTGAN(...), ts.TVAE(...)
    synth = model.sample(10_000, conditions={"Revenue": True})
    model.save("runs/shoppers"); model = ts.load("runs/shoppers")
    private = ts.Autoregressive(dp=ts.DPConfig(epsilon=1.0)).fit(real)   # differentially private
    customers, transactions = ts.ParentChild(key="customer_id", order_by="date").fit(tx).sample(1_000)

Images (MNIST GANs and VAE, augmentation, export, evaluation) live in ``tabsynth.images``
(``ts.images``, imported on first use).
"""

from tabsynth._version import __version__
from tabsynth.encoding import TableEncoder
from tabsynth.evaluation import evaluate
from tabsynth.io import read_table, write_table
from tabsynth.metadata import ColumnMetadata, Metadata
from tabsynth.models import CTGAN, TVAE, Autoregressive, NotFittedError
from tabsynth.models import load_model as load
from tabsynth.models import save_model
from tabsynth.privacy import DPConfig
from tabsynth.relational import ParentChild, evaluate_relational

__all__ = [
    "Autoregressive", "CTGAN", "ColumnMetadata", "DPConfig", "Metadata", "NotFittedError", "ParentChild", "TVAE",
    "TableEncoder", "__version__", "evaluate", "evaluate_relational", "load", "read_table", "save_model",
    "write_table",
]


def __getattr__(name: str):
    """``ts.images`` on first use (PEP 562), so ``import tabsynth`` does not load the image stack."""
    if name == "images":
        import importlib

        return importlib.import_module("tabsynth.images")
    raise AttributeError(f"module 'tabsynth' has no attribute {name!r}")
