"""CTGAN's conditional vector and training-by-sampling, as tensor operations.

Xu et al. (2019), section 4.3: for each batch row, pick a categorical column
uniformly, pick one of its categories with probability proportional to the log of
its frequency, encode that choice as a one-hot *conditional vector* over all
category slots, and draw a real row that has that category. Rare categories are
thus seen often enough for the generator to learn them.

Everything here is precomputed once from the encoded training matrix:
per column, the row indices sorted by category with the start and count of each
category's run, so drawing "a random real row with category c of column j" is one
indexing operation per batch.
"""

from __future__ import annotations

import numpy as np
import torch

from tabsynth.encoding.spans import Span
from tabsynth.models.layout import masked_blocks, padded_index


class ConditionalSampler:
    """Draws conditional vectors and matching real rows.

    Parameters
    ----------
    spans : list of Span
        The encoder's spans; the ``category`` spans define the conditional vector.
    data : Tensor (n, width) or None
        Encoded training matrix, on the model's device, its columns in the order given
        by ``position``. Needed for training; a sampler rebuilt for sampling only passes
        None and loads :meth:`state`.
    device : torch.device
    position : LongTensor (width,) or None
        Column of ``data`` (and of the generator's output) holding each matrix column
        of the span list, when they are not in matrix order (the span layout's
        internal order); None for matrix order.

    Attributes
    ----------
    width : int
        Width of the conditional vector (sum of category span widths; 0 when the
        table has no categorical column).
    """

    def __init__(self, spans: list[Span], data: torch.Tensor | None, device: torch.device,
                 position: torch.Tensor | None = None):
        self.spans = [s for s in spans if s.role == "category"]
        self.device = device
        self.width = sum(s.width for s in self.spans)
        self.n_columns = len(self.spans)
        self.span_index, self.span_mask = padded_index(self.spans, device)  # (C, K) into matrix columns
        if position is not None:
            self.span_index = position[self.span_index]  # (C, K) into data columns
        offsets = torch.tensor([0] + [s.width for s in self.spans], device=device).cumsum(0)
        self.cond_offset = offsets[:-1]  # (C,) start of each column in the conditional vector
        self.frequencies: torch.Tensor | None = None  # (C, K) category shares
        self.counts: torch.Tensor | None = None  # (C, K) rows per category (training-by-sampling's weights)
        if data is not None and self.n_columns:
            self._index_rows(data)

    @classmethod
    def from_counts(cls, spans: list[Span], counts: dict[str, np.ndarray], device: torch.device,
                    position: torch.Tensor | None = None) -> "ConditionalSampler":
        """A sampler whose category weights are given, not counted (DP mode: noisy released counts).

        It draws conditional vectors (training-by-sampling by log-count, and by share for
        sampling) but holds no real rows: :meth:`sample_rows` is unavailable.

        Parameters
        ----------
        spans : list of Span
        counts : dict
            Column name -> ``(slots,)`` non-negative counts of its category span.
        device, position
            As the constructor's.
        """
        sampler = cls(spans, None, device, position)
        k = sampler.span_index.shape[1]
        table = torch.zeros((sampler.n_columns, k), dtype=torch.float32, device=device)
        for row, span in enumerate(sampler.spans):
            values = torch.as_tensor(counts[span.column], dtype=torch.float32, device=device).clamp(min=0)
            if float(values.sum()) <= 0:  # nothing crossed the noise: every slot alike
                values = torch.ones_like(values)
            table[row, : span.width] = values
        sampler.counts = table
        sampler.frequencies = table / table.sum(dim=1, keepdim=True)
        return sampler

    def codes(self, data: torch.Tensor) -> torch.Tensor:
        """Each row's slot in every category span: ``(n, width)`` rows -> ``(n, C)`` int64."""
        return masked_blocks(data, self.span_index, self.span_mask).argmax(dim=-1)

    def _index_rows(self, data: torch.Tensor) -> None:
        codes = self.codes(data)  # (n, C)
        n, k = data.shape[0], self.span_index.shape[1]
        counts = torch.zeros((self.n_columns, k), device=self.device)
        counts.scatter_add_(1, codes.T, torch.ones_like(codes.T, dtype=counts.dtype))
        self.frequencies = counts / n
        self.counts = counts
        self.row_order = torch.argsort(codes.T, dim=1, stable=True)  # (C, n) rows sorted by category
        self.run_start = torch.cumsum(counts, dim=1) - counts  # (C, K) first position of each category

    # ------------------------------------------------------------------ drawing
    def one_hot(self, index: torch.Tensor) -> torch.Tensor:
        """Conditional vectors from their hot slots: LongTensor (B,) -> Tensor (B, width)."""
        cond = torch.zeros((index.shape[0], self.width), device=self.device)
        return cond.scatter_(1, index.unsqueeze(1), 1.0)

    def _draw(self, batch: int, probs: torch.Tensor, generator: torch.Generator):
        column = torch.randint(self.n_columns, (batch,), generator=generator, device=self.device)  # (B,)
        # Inverse-CDF draw within each row's column (cheaper than torch.multinomial per batch).
        cdf = torch.cumsum(probs, dim=1)[column]  # (B, K)
        u = torch.rand((batch, 1), generator=generator, device=self.device) * cdf[:, -1:]
        # The first slot whose cdf exceeds u always has positive probability; clamp for rounding.
        category = torch.searchsorted(cdf, u, right=True).squeeze(1).clamp_(max=probs.shape[1] - 1)  # (B,)
        return column, category, self.cond_offset[column] + category

    def sample_train(self, batch: int, generator: torch.Generator):
        """Training-by-sampling: categories drawn by log-frequency.

        Returns
        -------
        column : LongTensor (B,)   chosen categorical column (index among category spans)
        category : LongTensor (B,) chosen slot within that column
        index : LongTensor (B,)    the hot slot of each row's conditional vector (see :meth:`one_hot`)
        """
        log_freq = torch.log1p(self.counts) * (self.counts > 0)
        return self._draw(batch, log_freq, generator)

    def sample_original(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """Hot slots (B,) of conditional vectors for unconditional sampling: categories by real frequency."""
        return self._draw(batch, self.frequencies, generator)[2]

    def fixed(self, batch: int, span: Span, slot: int) -> torch.Tensor:
        """Hot slots (B,) of conditional vectors that all ask for ``slot`` of category span ``span``."""
        index = self.cond_offset[self.spans.index(span)] + slot
        return torch.full((batch,), int(index), dtype=torch.long, device=self.device)

    def sample_rows(self, column: torch.Tensor, category: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Indices of real rows, one per (column, category) pair, uniform among matching rows."""
        start = self.run_start[column, category]  # (B,)
        count = self.counts[column, category]  # (B,) rows holding the category
        offset = (torch.rand(column.shape, generator=generator, device=self.device) * count).long()
        offset = torch.minimum(offset, (count - 1).clamp(min=0).long())
        return self.row_order[column, (start + offset).long()]

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, torch.Tensor]:
        """Tensors needed to sample after loading (category shares only, not row indices)."""
        return {} if self.frequencies is None else {"frequencies": self.frequencies.cpu()}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        if "frequencies" in state:
            self.frequencies = state["frequencies"].to(self.device)
