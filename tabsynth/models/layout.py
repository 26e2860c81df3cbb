"""Index tensors derived once from the span list, so per-batch work is pure tensor ops.

A generator's raw output ``(B, width)`` holds one logit block per softmax span and
one pre-tanh scalar per value span. Spans have different widths; we gather every
softmax block into a padded ``(B, S, K)`` tensor (padding masked with -inf), apply
the activation in one call and scatter back with a fixed permutation. No Python
loop over columns runs per batch.
"""

from __future__ import annotations

import torch

from tabsynth.encoding.spans import Span, check_spans


class SpanLayout:
    """Precomputed gathers for a span list on one device.

    Parameters
    ----------
    spans : list of Span
        Must tile ``[0, width)`` (checked).
    width : int
    device : torch.device

    Attributes
    ----------
    value_index : LongTensor (V,)
        Matrix columns of tanh value slots.
    soft_index : LongTensor (S, K)
        Matrix columns of each softmax span, padded with 0 up to the widest span K.
    soft_mask : BoolTensor (S, K)
        True where ``soft_index`` is a real slot.
    """

    def __init__(self, spans: list[Span], width: int, device: torch.device):
        check_spans(spans, width)
        self.width = width
        self.device = device
        values = [s.start for s in spans if s.activation == "tanh"]
        softmax_spans = [s for s in spans if s.activation == "softmax"]
        self.value_index = torch.tensor(values, dtype=torch.long, device=device)
        self.soft_index, self.soft_mask = padded_index(softmax_spans, device)
        # Output assembly: cat([values, valid soft slots]) then undo that order.
        order = values + [i for s in softmax_spans for i in range(s.start, s.stop)]
        assert sorted(order) == list(range(width)), "span layout does not cover the matrix"
        self._flat_valid = self.soft_mask.reshape(-1).nonzero().squeeze(1)
        self._restore_order = torch.argsort(torch.tensor(order, device=device))

    def activate(self, logits: torch.Tensor, *, tau: float = 0.2,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """tanh on value slots; (Gumbel-)softmax on each one-hot block.

        Parameters
        ----------
        logits : Tensor (B, width)
        tau : float
            Gumbel-softmax temperature (Jang et al. 2017); CTGAN uses 0.2.
        generator : torch.Generator or None
            When given, Gumbel noise is drawn from it (a differentiable sample of each
            categorical); when None, a plain softmax is applied.

        Returns
        -------
        Tensor (B, width)
        """
        values = torch.tanh(logits[:, self.value_index])  # (B, V)
        blocks = masked_blocks(logits, self.soft_index, self.soft_mask)  # (B, S, K)
        if generator is not None:
            blocks = (blocks + gumbel_noise(blocks.shape, generator, blocks.device)) / tau
        soft = torch.softmax(blocks, dim=-1).reshape(logits.shape[0], -1)[:, self._flat_valid]
        return torch.cat([values, soft], dim=1)[:, self._restore_order]

    def soft_codes(self, matrix: torch.Tensor) -> torch.Tensor:
        """Index of the hot slot in each softmax span: ``(n, width)`` -> ``(n, S)`` long."""
        return masked_blocks(matrix, self.soft_index, self.soft_mask).argmax(dim=-1)


def padded_index(spans: list[Span], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(S, K)`` matrix columns of each span (padded with 0) and the validity mask."""
    k = max((s.width for s in spans), default=1)
    index = torch.zeros((len(spans), k), dtype=torch.long, device=device)
    mask = torch.zeros((len(spans), k), dtype=torch.bool, device=device)
    for row, span in enumerate(spans):
        index[row, : span.width] = torch.arange(span.start, span.stop, device=device)
        mask[row, : span.width] = True
    return index, mask


def masked_blocks(matrix: torch.Tensor, index: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Gather spans into ``(B, S, K)`` with -inf in the padding, ready for (log-)softmax."""
    return matrix[:, index].masked_fill(~mask, float("-inf"))


def gumbel_noise(shape: torch.Size, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Standard Gumbel noise ``-log(-log U)`` drawn from ``generator``."""
    uniform = torch.rand(shape, generator=generator, device=device).clamp_(1e-10, 1.0 - 1e-7)
    return -torch.log(-torch.log(uniform))
