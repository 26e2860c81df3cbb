"""Reversible encoding of tables into model matrices (see the span contract in ``spans``)."""

from tabsynth.encoding.base import ColumnEncoder
from tabsynth.encoding.spans import Span, check_spans
from tabsynth.encoding.table import TableEncoder
from tabsynth.encoding.token_table import TokenTable

__all__ = ["ColumnEncoder", "Span", "TableEncoder", "TokenTable", "check_spans"]
