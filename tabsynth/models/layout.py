"""Index tensors derived once from the span list, so per-batch work is pure tensor ops.

A generator's raw output ``(B, width)`` holds one logit block per softmax span and
one pre-tanh scalar per value span. Spans have different widths; softmax runs over
all blocks at once as a *segment* softmax (scatter max and sum over a segment id per
slot), on the real slots only, and a fixed permutation puts slots back in place.
No Python loop over columns runs per batch. (Padding every block to the widest one,
42 slots for Adult's native-country, cost 4x the work.)
"""

from __future__ import annotations

import torch

from tabsynth.encoding.spans import Span, check_spans


class SpanLayout:
    """Precomputed index tensors for a span list on one device.

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
    soft_columns : LongTensor (M,)
        Matrix columns of every softmax slot, span after span.
    segment : LongTensor (M,)
        Which softmax span (0..S-1) each of ``soft_columns`` belongs to.
    span_start : LongTensor (S,)
        First matrix column of each softmax span.
    soft_index, soft_mask : (S, K)
        Padded per-span columns and validity (for one-off work such as reading codes).
    """

    def __init__(self, spans: list[Span], width: int, device: torch.device):
        check_spans(spans, width)
        self.width = width
        self.device = device
        values = [s.start for s in spans if s.activation == "tanh"]
        softmax_spans = [s for s in spans if s.activation == "softmax"]
        soft_columns = [i for s in softmax_spans for i in range(s.start, s.stop)]
        self.n_soft_spans = len(softmax_spans)
        self.value_index = torch.tensor(values, dtype=torch.long, device=device)
        self.soft_columns = torch.tensor(soft_columns, dtype=torch.long, device=device)
        self.segment = torch.tensor([k for k, s in enumerate(softmax_spans) for _ in range(s.width)],
                                    dtype=torch.long, device=device)
        self.span_start = torch.tensor([s.start for s in softmax_spans], dtype=torch.long, device=device)
        self.soft_index, self.soft_mask = padded_index(softmax_spans, device)
        # Output assembly: cat([values, soft slots]) then undo that order.
        order = values + soft_columns
        assert sorted(order) == list(range(width)), "span layout does not cover the matrix"
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
        values = torch.tanh(logits.index_select(1, self.value_index))  # (B, V)
        soft = logits.index_select(1, self.soft_columns)  # (B, M)
        if generator is not None:
            soft = (soft + gumbel_noise(soft.shape, generator, soft.device)) / tau
        soft = segment_softmax(soft, self.segment, self.n_soft_spans)
        return torch.cat([values, soft], dim=1).index_select(1, self._restore_order)

    def soft_log_normaliser(self, logits: torch.Tensor) -> torch.Tensor:
        """``log sum exp`` of each softmax span: ``(B, width)`` -> ``(B, S)``."""
        return segment_logsumexp(logits.index_select(1, self.soft_columns), self.segment, self.n_soft_spans)

    def soft_codes(self, matrix: torch.Tensor) -> torch.Tensor:
        """Index of the hot slot in each softmax span: ``(n, width)`` -> ``(n, S)`` long."""
        return masked_blocks(matrix, self.soft_index, self.soft_mask).argmax(dim=-1)


def _segment_max(x: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Per-row max of each segment, ``(B, M)`` -> ``(B, S)``, without gradient (a shift only)."""
    with torch.no_grad():
        out = torch.full((x.shape[0], n_segments), float("-inf"), device=x.device, dtype=x.dtype)
        return out.scatter_reduce(1, segment.expand(x.shape[0], -1), x, reduce="amax", include_self=True)


def segment_softmax(x: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Softmax within each segment of the columns of ``x`` (B, M); no padding, one pass."""
    index = segment.expand(x.shape[0], -1)
    shifted = torch.exp(x - _segment_max(x, segment, n_segments).index_select(1, segment))  # (B, M)
    totals = torch.zeros((x.shape[0], n_segments), device=x.device, dtype=x.dtype).scatter_add(1, index, shifted)
    return shifted / totals.index_select(1, segment)


def segment_logsumexp(x: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """``log sum exp`` within each segment of the columns of ``x``: ``(B, M)`` -> ``(B, S)``."""
    index = segment.expand(x.shape[0], -1)
    peak = _segment_max(x, segment, n_segments)  # (B, S)
    shifted = torch.exp(x - peak.index_select(1, segment))
    totals = torch.zeros_like(peak).scatter_add(1, index, shifted)
    return peak + torch.log(totals)


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
