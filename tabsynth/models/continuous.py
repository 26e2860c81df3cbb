"""What CTGAN and TVAE share: the continuous view, its span layout, and sampling with rejection.

Both families read and write the encoder's float matrix (mode-specific normalization and
one-hot blocks, :class:`~tabsynth.encoding.TableEncoder`) in the span layout's internal
column order (:class:`~tabsynth.models.layout.SpanLayout`). A subclass adds
``_sample_matrix(n, condition, generator)`` (``(n, width)`` activated rows in matrix
order) and, if its network can take a condition, ``_guiding_condition``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from tabsynth.encoding import Span, TableEncoder
from tabsynth.metadata import Metadata
from tabsynth.models.base import BaseSynthesizer, numpy_rng
from tabsynth.models.layout import SpanLayout
from tabsynth.models.training import check_precision, resolve_precision, training_autocast

# Conditional sampling gives up (with an error, never fewer rows) after drawing this many
# candidate rows per requested row.
MAX_DRAWS_PER_ROW = 200


class ContinuousSynthesizer(BaseSynthesizer):
    """A model over the continuous view (CTGAN, TVAE); conditions are met by rejection."""

    def _check_params(self) -> None:
        super()._check_params()
        check_precision(self.precision, private=self.dp is not None)

    def _training_precision(self) -> str:
        return resolve_precision(self.precision, self.device_, private=self.dp is not None)

    def _autocast(self) -> torch.autocast:
        """Context for one training step in ``precision_`` (see :func:`~tabsynth.models.training.training_autocast`)."""
        return training_autocast(self.precision_, self.device_)

    def _new_encoder(self, metadata: Metadata) -> TableEncoder:
        return TableEncoder(metadata, random_state=self.seed_)

    def _release_encoder(self, frame: pd.DataFrame, schema: Metadata, ledger, rng: np.random.Generator):
        """DP mode: the continuous view from DP-released modes and category sets
        (:mod:`tabsynth.privacy.continuous_release`); keeps the noisy category counts."""
        from tabsynth.privacy.continuous_release import release_table_encoder

        release = release_table_encoder(frame, schema, ledger, rng)
        self._released_category_counts = release.category_counts
        return release.metadata, release.encoder, release.notes

    def _encoder_from_state(self, state: dict) -> TableEncoder:
        return TableEncoder.from_state(self.metadata_, state)

    def _on_encoder_ready(self) -> None:
        self.layout_ = SpanLayout(self.encoder_.spans_, self.encoder_.width_, self.device_)

    def _encode(self, frame: pd.DataFrame) -> torch.Tensor:
        """Training table -> ``(n, width)`` float32 tensor on the device, its columns in the span
        layout's internal order (the networks' order). Permuted before the tensor exists, so
        training holds one copy of the matrix."""
        matrix = torch.as_tensor(self.encoder_.transform(frame))  # CPU, shares the numpy array's memory
        # A row-major copy (numpy's matrix[:, order] is column-major: batch gathers were 10% slower).
        return self.layout_.to_internal(matrix).to(self.device_)

    def sample(self, n: int, conditions: dict[str, Any] | None = None, *, batch_size: int = 10_000,
               random_state: int | None = None) -> pd.DataFrame:
        """Generate ``n`` synthetic rows with the real table's schema.

        Parameters
        ----------
        n : int
            Number of rows (> 0).
        conditions : dict or None
            ``{column: condition}``: a category of a categorical/boolean column, a list of
            categories (any of them), or None for null cells of any nullable column, e.g.
            ``{"Revenue": True, "Month": ["Nov", "Dec"]}``. Every returned row meets them.
            CTGAN feeds one single-category condition (the rarest) to its conditional
            vector; the others (and all for TVAE) are met by a bounded rejection step.
            Never returns fewer rows: raises instead.
        batch_size : int, default 10000
            Rows generated per forward pass.
        random_state : int or None
            Seed for this call only. When None, the model's own sampling generator is
            used and advances, so consecutive calls give different rows, and a model
            saved and loaded continues exactly where it was.

        Returns
        -------
        pandas.DataFrame
            ``n`` rows, columns and dtypes as in the training table.

        Raises
        ------
        NotFittedError
        ValueError
            On a bad ``n``, an unknown column or value in ``conditions`` (the message
            lists the allowed values), or a combination the model produces too rarely.
        """
        generator = self._check_sample_call(n, batch_size, random_state)
        targets = [self.encoder_.condition_slots(col, val) for col, val in (conditions or {}).items()]
        with torch.no_grad(), self._eval_mode():
            matrix = self._sample_until(int(n), targets, int(batch_size), generator, conditions)
        return self.encoder_.inverse_transform(matrix, numpy_rng(generator))

    def _sample_until(self, n: int, targets: list[tuple[Span, list[int]]], batch_size: int,
                      generator: torch.Generator, conditions: dict | None) -> np.ndarray:
        """Draw batches, keep rows whose every target span takes one of its slots, stop at ``n``
        rows (or raise)."""
        single = [(span, slots[0]) for span, slots in targets if len(slots) == 1 and span.role == "category"]
        guide = self._guiding_condition(single)
        allowed = [(span, torch.tensor(slots, device=self.device_)) for span, slots in targets]
        kept, n_kept, n_drawn = [], 0, 0
        budget = n * MAX_DRAWS_PER_ROW + batch_size
        while n_kept < n:
            # Give up when the budget is spent, or early when the acceptance rate seen so far
            # (after enough draws to judge) cannot fill the request within the budget.
            hopeless = n_drawn >= 10 * batch_size and n_kept / n_drawn * (budget - n_drawn) < n - n_kept
            if n_drawn >= budget or hopeless:
                raise ValueError(
                    f"Only {n_kept} of {n} rows met conditions {conditions} after drawing {n_drawn} rows "
                    f"(acceptance {n_kept / n_drawn:.2%}); this model almost never produces that combination. "
                    "Ask for fewer rows or fewer conditions, or train longer."
                )
            rows = self._sample_matrix(min(batch_size, budget - n_drawn), guide, generator)  # (b, width)
            n_drawn += rows.shape[0]
            for span, slots in allowed:
                rows = rows[torch.isin(rows[:, span.start : span.stop].argmax(dim=1), slots)]
            kept.append(rows[: n - n_kept].cpu().numpy())
            n_kept += kept[-1].shape[0]
        return np.concatenate(kept, axis=0)

    def _guiding_condition(self, targets: list[tuple[Span, int]]) -> tuple[Span, int] | None:
        """Of the single-category ``targets``, the one a model feeds its network (None: none)."""
        return None

    def _sample_matrix(self, n: int, condition: tuple[Span, int] | None,
                       generator: torch.Generator) -> torch.Tensor:
        """``(n, width)`` activated rows in the encoder's matrix order."""
        raise NotImplementedError
