"""Single source of the package version (read by pyproject and stamped into saved models)."""

__version__ = "0.1.0"
