"""The autoregressive model's network: one masked MLP per column over column embeddings.

For a column order sigma, column ``t`` is predicted from the embeddings of the columns
that come before it in sigma, p(x_t | x_{sigma < t}). All columns' conditionals are
computed in one pass with a per-target visibility mask, as in MADE (Germain et al.
2015) but with a separate first layer per target column, the structure of TabularARGN's
per-column regressors (Tiwald et al. 2025). Training on random orders (order-agnostic
training, Uria, Murray & Larochelle 2014) lets one network condition on any subset.

Shapes: ``B`` rows, ``J`` learned columns, ``d`` embedding size, ``H`` hidden size,
``V`` the largest vocabulary (smaller ones are padded and masked to -inf).

The network has no BatchNorm and every parameter's gradient is a sum over rows, so
per-example gradients (DP-SGD with Opacus' functorch mode) can be computed for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ARNetworkConfig:
    """Sizes of the autoregressive network (frozen; handed to the module)."""

    vocabulary_sizes: tuple[int, ...]
    embedding_dim: int
    hidden_dim: int
    dropout: float


class GroupedLinear(nn.Module):
    """``G`` independent linear maps, one per group: ``(G, B, in)`` -> ``(G, B, out)``.

    ``y[g] = x[g] @ weight[g] + bias[g]``, one batched matmul for all groups. The batch is
    the *second* dimension (so DP-SGD's hooks run with ``batch_first=False``); each
    group's weight sees each row once, which makes its per-example gradient an outer
    product (see :mod:`tabsynth.privacy.norm_samplers`).

    Parameters
    ----------
    groups, in_features, out_features : int
    bias : bool, default True
    """

    def __init__(self, groups: int, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(_uniform((groups, in_features, out_features), in_features))
        self.bias = nn.Parameter(torch.zeros(groups, 1, out_features)) if bias else None

    def forward(self, x: torch.Tensor, *, groups: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` (G', B, in) float -> (G', B, out); ``groups`` (G',) int64 picks the groups (all when None)."""
        weight, bias = self.weight, self.bias
        if groups is not None:
            weight = weight.index_select(0, groups)
            bias = bias.index_select(0, groups) if bias is not None else None
        return torch.bmm(x, weight) if bias is None else torch.baddbmm(bias, x, weight)


class ColumnAR(nn.Module):
    """Masked per-column MLPs: ``(B, J)`` tokens + ``(T, J)`` visibility -> ``(T, B, V)`` logits.

    Layers per target column ``t``: ``h = relu(sum_s visible[t, s] e_s W_in[t, s] + absent_t + b)``,
    one residual ``h + relu(h W_hid + b)``, then logits ``h W_out + b``. ``absent_t`` is a learned
    map of which columns are hidden, so the network knows what it was not shown. Every layer is
    an ``nn.Embedding`` or a :class:`GroupedLinear` with the batch second, so Opacus' per-layer
    hooks can compute per-example gradient norms for DP-SGD.
    """

    def __init__(self, config: ARNetworkConfig):
        super().__init__()
        sizes = torch.tensor(config.vocabulary_sizes, dtype=torch.long)
        # A table of only id / constant columns has no learned column: an empty network.
        n_cols, d, hidden = len(sizes), config.embedding_dim, config.hidden_dim
        width = int(sizes.max()) if n_cols else 1
        self.config = config
        self.embedding = nn.Embedding(int(sizes.sum()), d)
        self.register_buffer("offsets", (torch.cumsum(sizes, 0) - sizes)[:, None], persistent=False)  # (J, 1)
        self.input = GroupedLinear(n_cols, n_cols * d, hidden)
        self.absent = GroupedLinear(n_cols, n_cols, hidden, bias=False)
        nn.init.zeros_(self.absent.weight)
        self.hidden = GroupedLinear(n_cols, hidden, hidden)
        self.output = GroupedLinear(n_cols, hidden, width)
        # Dropout's mask draws cost a third of a CPU step; skip the module when it is off.
        self.dropout = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()
        padding = torch.arange(width)[None, :] >= sizes[:, None]  # (J, V)
        self.register_buffer("padding", padding, persistent=False)

    @torch.no_grad()
    def start_from_marginals(self, token_counts: list[torch.Tensor]) -> None:
        """Set each column's output bias to the log of its token frequencies.

        ``token_counts[j]`` is a ``(V_j,)`` float tensor of counts (exact ones, or a DP fit's
        noisy released ones). Training then starts from the independent-columns model
        instead of a uniform one. A marginal's logits span several units, which small
        tables (few optimiser steps before early stopping) would otherwise not reach: the
        first column drifted by 3% in total variation on online_shoppers.
        """
        for j, size in enumerate(self.config.vocabulary_sizes):
            counts = token_counts[j].to(self.output.bias)[:size].clamp(min=0)
            self.output.bias[j, 0, :size] = torch.log((counts + 0.5) / (counts.sum() + 0.5 * size))

    @property
    def n_columns(self) -> int:
        return len(self.config.vocabulary_sizes)

    def forward(self, tokens: torch.Tensor, visible: torch.Tensor,
                targets: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of the ``targets`` columns (all when None) given the visible columns.

        Parameters
        ----------
        tokens : (B, J) int64
        visible : (T, J) or (T, B, J) bool
            ``visible[i, s]`` (shared by all rows) or ``visible[i, b, s]`` (per row): target
            ``targets[i]`` may look at column ``s``.
        targets : (T,) int64 or None

        Returns
        -------
        (T, B, V) float32 logits; padded vocabulary slots are -inf.
        """
        padding = self.padding if targets is None else self.padding.index_select(0, targets)
        batch, n_cols = tokens.shape
        # Dropout on the small embedding tensor regularises about as well as on the hidden
        # layers at a fraction of the cost (CPU random draws take ~3 ns each).
        embedded = self.dropout(self.embedding(tokens.T + self.offsets))  # (J, B, d): batch second
        mask = visible.to(embedded.dtype)
        if mask.dim() == 2:
            mask = mask.unsqueeze(1).expand(-1, batch, -1)  # (T, B, J)
        inputs = (embedded.permute(1, 0, 2).unsqueeze(0) * mask.unsqueeze(-1)).reshape(len(mask), batch, -1)
        h = torch.relu(self.input(inputs, groups=targets) + self.absent(1.0 - mask, groups=targets))  # (T, B, H)
        h = h + torch.relu(self.hidden(h, groups=targets))
        logits = self.output(h, groups=targets)  # (T, B, V)
        return logits.masked_fill(padding.unsqueeze(1), float("-inf"))


def _uniform(shape: tuple[int, ...], fan_in: int) -> torch.Tensor:
    """PyTorch's default Linear initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    return torch.empty(shape).uniform_(-bound, bound)


# Share of training rows that use the table order (the rest put a random subset first).
TABLE_ORDER_SHARE = 0.5


def visibility(positions: torch.Tensor) -> torch.Tensor:
    """Column positions in an order -> which columns each target may look at.

    ``positions`` is ``(J,)`` (one order) or ``(B, J)`` (one order per row), holding the
    place of each column in its order. Returns ``(J, J)`` or ``(J, B, J)`` bool:
    ``[t, (b,) s]`` is True when column ``s`` comes before column ``t``.
    """
    if positions.dim() == 1:
        return positions[None, :] < positions[:, None]
    return (positions[:, None, :] < positions[:, :, None]).permute(1, 0, 2)


def table_positions(n_columns: int, device: torch.device) -> torch.Tensor:
    """``(J,)`` positions of the table order (the order unconditional sampling follows)."""
    return torch.arange(n_columns, device=device)


def training_positions(n_rows: int, n_columns: int, generator: torch.Generator,
                       device: torch.device) -> torch.Tensor:
    """``(B, J)`` column positions for one training batch, one order per row.

    Half the rows use the table order, the order unconditional sampling follows. The
    others put a random subset of columns first (random size, random order) and the
    remaining columns after it in table order: exactly the orders that conditional
    sampling and imputation use (given columns first, then the rest in table order).
    Drawing an order per row rather than per batch covers many more subsets per step.
    """
    table = torch.arange(n_columns, device=device).expand(n_rows, -1)
    if n_columns < 2:
        return table.clone()
    size = torch.randint(1, n_columns, (n_rows, 1), generator=generator, device=device)
    size = torch.where(torch.rand((n_rows, 1), generator=generator, device=device) < TABLE_ORDER_SHARE, 0, size)
    # A random rank per column; the `size` smallest ranks form the given subset.
    ranks = torch.rand((n_rows, n_columns), generator=generator, device=device).argsort(dim=1).argsort(dim=1)
    given = ranks < size
    # Given columns take positions 0..size-1 by rank; the rest follow in table order.
    rest_position = size + torch.cumsum(~given, dim=1) - 1
    return torch.where(given, ranks, rest_position)
