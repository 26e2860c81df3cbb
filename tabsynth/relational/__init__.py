"""Parent-child tables: customers with their ordered transactions (:class:`ParentChild`) and
the relational report (:func:`evaluate_relational`)."""

from tabsynth.relational.evaluation import entity_table, evaluate_relational
from tabsynth.relational.model import ParentChild

__all__ = ["ParentChild", "entity_table", "evaluate_relational"]
