"""The span list: the contract between the encoder, the models and their losses.

Each span names a contiguous block of the encoded float matrix, the column it came
from, what it holds, and the output activation a generator must apply to it:

========  ==========  ================================================================
role      activation  meaning
========  ==========  ================================================================
value     tanh        mode-normalized scalar of a numerical/datetime column, in (-1, 1)
mode      softmax     one-hot of the mixture mode that normalized the value
category  softmax     one-hot of a categorical column's value (the conditional vector
                      of CTGAN is built from these spans only)
null      softmax     two-slot one-hot [present, null] of a numerical/datetime column
========  ==========  ================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Role = Literal["value", "mode", "category", "null"]
Activation = Literal["tanh", "softmax"]

_ACTIVATION_OF_ROLE = {"value": "tanh", "mode": "softmax", "category": "softmax", "null": "softmax"}


@dataclass(frozen=True)
class Span:
    """One block of the encoded matrix: columns ``[start, start + width)``.

    Attributes
    ----------
    column : str
        Name of the table column the block encodes.
    role : {"value", "mode", "category", "null"}
    start : int
        First matrix column of the block.
    width : int
        Number of matrix columns (1 for ``value``, k for a one-hot of k).
    """

    column: str
    role: Role
    start: int
    width: int

    @property
    def activation(self) -> Activation:
        """``"tanh"`` for value slots, ``"softmax"`` for one-hot blocks."""
        return _ACTIVATION_OF_ROLE[self.role]

    @property
    def stop(self) -> int:
        return self.start + self.width

    def shifted(self, offset: int) -> "Span":
        return replace(self, start=self.start + offset)

    def to_dict(self) -> dict:
        return {"column": self.column, "role": self.role, "start": self.start, "width": self.width}


def check_spans(spans: list[Span], width: int) -> None:
    """Assert that ``spans`` tile ``[0, width)`` in order with no gap or overlap.

    This is the one check that the encoder, the generator's output layer, the
    conditional vector and the losses agree on the layout.

    Raises
    ------
    AssertionError
        On any gap, overlap, bad width or role/width mismatch (internal invariant).
    """
    position = 0
    for span in spans:
        assert span.start == position, f"span {span} does not start at {position}"
        assert span.width >= 1, f"span {span} is empty"
        assert span.role in _ACTIVATION_OF_ROLE, f"span {span} has an unknown role"
        assert span.role != "value" or span.width == 1, f"value span {span} must have width 1"
        assert span.role != "null" or span.width == 2, f"null span {span} must have width 2"
        position = span.stop
    assert position == width, f"spans cover {position} columns, matrix has {width}"
