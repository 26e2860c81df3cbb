"""The networks' column order for a span list, and the output activations on it.

CTGAN's and TVAE's networks do not read and write rows in the encoder's matrix
order (each column's value slot next to its one-hot blocks) but in an *internal
order*: every tanh value slot first, then every softmax span, so the value slots
and the softmax slots are two contiguous views of a row. The matrix order is
restored once, on sampled rows (:meth:`SpanLayout.to_matrix`); the permutation is a
pure function of the span list, so a loaded model rebuilds it.

Softmax and log-sum-exp run over all spans at once with dense operations: exp on
every softmax slot, then a product with a fixed 0/1 span-membership matrix sums
each span. Exponents are shifted per span for numerical safety. CTGAN's
Gumbel-softmax takes each span's exact max (one scatter): a trained generator's
logits range over ~150 (Adult, 300 epochs), five times that over tau. TVAE's
likelihood first tries a cheaper shift shared by the row, its largest softmax logit:
no exponent exceeds 0 (no overflow), and a span's sum falls under the guard (1e-30,
69 nats down, still far above float32's smallest normal number, so its log keeps full
precision) only when the span's largest logit lies 69 below the row's. On every row
of the trained Adult TVAE (300 epochs) the widest such gap was 54 nats; when a batch
has one, the exact per-span max is taken for that batch.
This replaced per-span gathers and scatters along columns, which on CPU cost more
than all the matrix products of a TVAE step (1.4 of 4.5 ms on Adult); torch's
native softmax over small trailing dimensions is no better, as it runs row by row.
The membership products are exact in float32; on CUDA with TF32 matrix products turned
on (``torch.backends.cuda.matmul.allow_tf32``, off by default) they would round sums
to a 10-bit mantissa, so tabsynth leaves that setting alone.
"""

from __future__ import annotations

import torch

from tabsynth.encoding.spans import Span, check_spans


# The cheap shift is the row's largest softmax logit. A span sum under _UNDERFLOW_GUARD
# (69 nats down) triggers the exact per-span max instead (see the module docstring).
_UNDERFLOW_GUARD = 1e-30


class SpanLayout:
    """Internal column order of a span list on one device, and activations on that order.

    Parameters
    ----------
    spans : list of Span
        The encoder's spans; must tile ``[0, width)`` (checked).
    width : int
    device : torch.device

    Attributes
    ----------
    n_values : int
        Number of tanh value slots: internal positions ``[0, n_values)``.
    n_soft_spans : int
        Number of softmax spans; their slots fill internal positions ``[n_values, width)``.
    order : LongTensor (width,)
        Matrix column at each internal position.
    position : LongTensor (width,)
        Internal position of each matrix column (the inverse permutation of ``order``).
    membership : Tensor (width - n_values, n_soft_spans)
        1.0 where a softmax slot belongs to a span, else 0.0.
    segment : LongTensor (width - n_values,)
        The span (0..n_soft_spans-1) of each softmax slot.
    """

    def __init__(self, spans: list[Span], width: int, device: torch.device):
        check_spans(spans, width)
        self.width = width
        self.device = device
        values = [s.start for s in spans if s.activation == "tanh"]
        softmax_spans = [s for s in spans if s.activation == "softmax"]
        order = values + [c for s in softmax_spans for c in range(s.start, s.stop)]
        assert sorted(order) == list(range(width)), "span layout does not cover the matrix"
        self.n_values = len(values)
        self.n_soft_spans = len(softmax_spans)
        self.order = torch.tensor(order, dtype=torch.long, device=device)
        self.position = torch.argsort(self.order)
        self.segment = torch.tensor([k for k, s in enumerate(softmax_spans) for _ in range(s.width)],
                                    dtype=torch.long, device=device)
        self.membership = torch.nn.functional.one_hot(self.segment, self.n_soft_spans).to(torch.float32)

    # ------------------------------------------------------------------ orders
    def to_internal(self, matrix: torch.Tensor) -> torch.Tensor:
        """Encoder matrix order -> internal order: ``(B, width)`` -> ``(B, width)``, a row-major
        copy on ``matrix``'s device (which may differ from the layout's)."""
        return matrix.index_select(1, self.order.to(matrix.device))

    def to_matrix(self, internal: torch.Tensor) -> torch.Tensor:
        """Internal order -> encoder matrix order: ``(B, width)`` -> ``(B, width)``."""
        return internal.index_select(1, self.position)

    # ------------------------------------------------------------------ activations
    def activate(self, logits: torch.Tensor, *, tau: float = 0.2,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """tanh on value slots; (Gumbel-)softmax on each one-hot block.

        Parameters
        ----------
        logits : Tensor (B, width), internal order
        tau : float
            Gumbel-softmax temperature (Jang et al. 2017); CTGAN uses 0.2.
        generator : torch.Generator or None
            When given, Gumbel noise is drawn from it (a differentiable sample of each
            categorical); when None, a plain softmax is applied.

        Returns
        -------
        Tensor (B, width), internal order
        """
        soft = logits[:, self.n_values :]
        if generator is not None:
            soft = (soft + gumbel_noise(soft.shape, generator, soft.device)) / tau
        else:
            soft = soft.contiguous()  # elementwise ops on a strided slice are ~3x slower on CPU
        # A trained generator's logits span ~150 (x5 over tau): the cheap shift would
        # underflow whole spans in every batch, so the exact per-span max is taken at once.
        _, exps, totals = self._span_exponentials(soft, exact_shift=True)
        probabilities = exps / (totals @ self.membership.to(soft.dtype).T)
        return torch.cat([torch.tanh(logits[:, : self.n_values]), probabilities], dim=1)

    def categorical_nll(self, soft_logits: torch.Tensor, soft_target: torch.Tensor, *,
                        exact_shift: bool = False) -> torch.Tensor:
        """Summed cross-entropy of every one-hot block: ``sum(logsumexp(span) - logit of the hot slot)``.

        Parameters
        ----------
        soft_logits : Tensor (B, width - n_values)
            Logits of the softmax slots (internal positions ``[n_values, width)``), contiguous.
        soft_target : Tensor (B, width - n_values)
            The encoded rows' softmax slots: one-hot in every span.
        exact_shift : bool, default False
            Always shift by each span's max (see ``_span_exponentials``): no branch on the
            values, as ``torch.func.vmap`` (DP-SGD's per-example gradients) requires.

        Returns
        -------
        Tensor ()  summed over rows and spans, in nats
        """
        shift, _, totals = self._span_exponentials(soft_logits, exact_shift=exact_shift)
        return self._log_partition_sum(shift, totals) - (soft_logits * soft_target).sum()

    def _log_partition_sum(self, shift: torch.Tensor, totals: torch.Tensor) -> torch.Tensor:
        """Sum over rows and spans of ``logsumexp(span) = log(total) + shift``; ``shift`` is
        ``(B, 1)`` (one per row, counted once per span) or ``(B, S)``. With a single span the
        two shapes coincide and so do the two readings."""
        shift_sum = shift.sum() * (self.n_soft_spans if shift.shape[1] == 1 else 1)
        return torch.log(totals).sum() + shift_sum

    def _span_exponentials(self, soft: torch.Tensor, *, exact_shift: bool):
        """Shifted exponentials of softmax slots and their per-span sums.

        Parameters
        ----------
        soft : Tensor (B, M) softmax slots
        exact_shift : bool
            Shift each span by its exact max (one scatter) instead of trying the cheap
            shift of the module docstring first.

        Returns
        -------
        shift : Tensor (B, 1) or (B, n_soft_spans), no gradient
            The exponent shift: one per row (the cheap shift) or one per span (the exact max).
        exps : Tensor (B, M)
            ``exp(soft - shift of the slot's span)``.
        totals : Tensor (B, n_soft_spans)
            Per-span sums of ``exps``; each is at least ``_UNDERFLOW_GUARD``.
        """
        detached, membership = soft.detach(), self.membership.to(soft.dtype)
        if not exact_shift:
            shift = detached.amax(dim=1, keepdim=True)  # (B, 1)
            exps = torch.exp(soft - shift)
            totals = exps @ membership
            if totals.numel() == 0 or float(totals.detach().amin()) >= _UNDERFLOW_GUARD:
                return shift, exps, totals
        shift = _segment_max(detached, self.segment, self.n_soft_spans)
        exps = torch.exp(soft - shift @ membership.T)
        return shift, exps, exps @ membership


def _segment_max(x: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Per-row max of each segment of the columns of ``x``: ``(B, M)`` -> ``(B, S)``."""
    out = torch.full((x.shape[0], n_segments), float("-inf"), device=x.device, dtype=x.dtype)
    return out.scatter_reduce(1, segment.expand(x.shape[0], -1), x, reduce="amax", include_self=True)


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
