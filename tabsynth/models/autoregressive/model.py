"""The flagship: an any-order autoregressive model over the columns of a table.

The joint distribution is factorised over columns, p(x) = prod_j p(x_j | x_<j), each
column being one token of the discrete view (:class:`~tabsynth.encoding.TokenTable`).
The network (:class:`~tabsynth.models.autoregressive.network.ColumnAR`) is trained by maximum
likelihood on a mix of the table order and "given columns first" orders, so that the
same model samples unconditionally, conditionally on any subset of columns (values,
sets of categories, numerical ranges) and imputes missing cells, all without rejection.

References: Uria, Murray & Larochelle (2014), "A Deep and Tractable Density Estimator"
(order-agnostic training); Germain et al. (2015), "MADE"; Tiwald et al. (2025),
"TabularARGN: A Flexible and Efficient Auto-Regressive Framework for Generating
High-Fidelity Synthetic Data".
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from tabsynth.encoding.base import restore_dtype
from tabsynth.encoding.token_table import TokenTable
from tabsynth.metadata import Metadata, as_dataframe
from tabsynth.models.autoregressive.network import (ARNetworkConfig, ColumnAR, table_positions,
                                                    training_positions, visibility)
from tabsynth.models.base import BaseSynthesizer, numpy_rng
from tabsynth.models.training import adam, steps_per_epoch
from tabsynth.privacy.accounting import PrivacyLedger
from tabsynth.privacy.config import DPConfig
from tabsynth.privacy.token_release import release_token_table


# Training settings when not given: maximum likelihood with early stopping ...
DEFAULTS = {"epochs": 100, "batch_size": 512, "learning_rate": 1e-3}
# ... and DP-SGD, which wants large Poisson batches and few steps (measured on Adult at
# epsilon 1: benchmarks/dp_vs_peers.py).
DP_DEFAULTS = {"epochs": 20, "batch_size": 2048, "learning_rate": 3e-3}
# With context (fit(context=...)): the share of training rows whose order puts the whole
# context first, as sampling does; the others train on partial context (_training_positions).
CONTEXT_FIRST_SHARE = 0.5


class Autoregressive(BaseSynthesizer):
    """Any-order autoregressive synthesizer (tabsynth's default model).

    Parameters
    ----------
    epochs : int or None, default None
        Most passes over the training rows (None: 100); training stops earlier when the
        validation negative log-likelihood has not improved for ``patience`` epochs, and
        the best epoch's weights are kept. In DP mode exactly this many expected passes
        (None: :data:`DP_DEFAULTS`).
    batch_size : int or None, default None
        Rows per step (None: 512; in DP mode the expected Poisson batch, None:
        :data:`DP_DEFAULTS`: DP-SGD wants large batches and few steps).
    learning_rate : float or None, default None
        Adam step size (None: 1e-3, halved after each epoch without validation improvement;
        in DP mode :data:`DP_DEFAULTS`, fixed).
    embedding_dim : int, default 32
        Size of each token's embedding.
    hidden_dim : int, default 64
        Width of each column's MLP.
    dropout : float, default 0.1
        Dropout on the token embeddings.
    validation_share : float, default 0.1
        Share of the rows held out for early stopping (never trained on).
    patience : int, default 5
    n_bins : int, default 32
        Most quantile bins per numerical column.
    fine_bins : int or dict of str -> int, default 1
        Sub-bins of a numerical column's second, fine token (1: none; a dict: per column,
        others 1): the model then sees a number at ``n_bins * fine_bins`` resolution, a bin and
        where in it the value lies (:mod:`tabsynth.encoding.tokens`). Costs a column per number.
    rare_threshold : int, default 5
        Categories held by fewer rows are never emitted verbatim (see
        :mod:`tabsynth.encoding.tokens`).
    clip_quantile : float, default 0.001
        Numerical values are clipped to these lower / upper quantiles.
    device : str, default "auto"
    random_state : int or None
    verbose : bool, default True
    dp : tabsynth.DPConfig or None, default None
        Differentially private fit: the encoder is built from DP-released statistics only
        (:mod:`tabsynth.privacy.token_release`), every training row goes through DP-SGD
        with Poisson sampling (:mod:`tabsynth.privacy.dpsgd`) for exactly ``epochs``
        expected passes at ``learning_rate`` (no validation split, early stopping or step
        halving: those would read raw rows), and ``privacy_`` holds the ledger whose total
        is the target. ``rare_threshold`` does not apply (partition selection's threshold
        protects rare values instead). The noise and the Poisson draws come from the
        operating system's entropy, not ``random_state`` (the saved seed would reveal them),
        so a DP fit is not reproducible bit for bit; its samples after the fit are.

    Attributes
    ----------
    loss_history_ : list of dict
        Per epoch: ``epoch``, ``train_nll`` and ``validation_nll`` (nats per row, summed
        over columns), ``seconds``.
    best_epoch_ : int
        The epoch whose weights the model keeps (the last one in DP mode).
    privacy_ : dict or None
        DP mode: the ledger saved as ``privacy.json`` (``epsilon``, ``delta``,
        ``accountant``, ``mechanisms``). None otherwise.
    noise_multiplier_ : float
        DP mode: DP-SGD's calibrated noise multiplier.
    context_columns_ : list of str
        Learned columns the model conditions on without modelling them (``fit(context=...)``);
        empty for a model of the whole table.
    targets_ : torch.Tensor of bool, shape (len(encoder_.token_columns_),)
        Which token columns the model learns (all but the context's).
    """

    name = "autoregressive"
    # 2: grouped layers (input., absent., hidden., output.); 3: fine tokens or context (written
    # only by fits that use them, so the others stay readable by tabsynth versions before 3).
    model_format = 3
    readable_formats = (2, 3)

    def __init__(self, *, epochs: int | None = None, batch_size: int | None = None,
                 learning_rate: float | None = None,
                 embedding_dim: int = 32, hidden_dim: int = 64, dropout: float = 0.1,
                 validation_share: float = 0.1, patience: int = 5, n_bins: int = 32,
                 fine_bins: int | dict[str, int] = 1, rare_threshold: int = 5,
                 clip_quantile: float = 0.001, device: str = "auto", random_state: int | None = None,
                 verbose: bool = True, dp: DPConfig | None = None):
        self.dp = DPConfig.from_value(dp)
        # None takes the mode's default, so a DP fit gets DP-SGD's settings unless told otherwise.
        defaults = DP_DEFAULTS if self.dp is not None else DEFAULTS
        self.epochs = defaults["epochs"] if epochs is None else epochs
        self.batch_size = defaults["batch_size"] if batch_size is None else batch_size
        self.learning_rate = defaults["learning_rate"] if learning_rate is None else learning_rate
        self.embedding_dim = embedding_dim
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.validation_share = validation_share
        self.patience = patience
        self.n_bins = n_bins
        self.fine_bins = fine_bins
        self.rare_threshold = rare_threshold
        self.clip_quantile = clip_quantile
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self) -> None:
        super()._check_params()
        if not 0.0 <= self.validation_share < 0.5:
            raise ValueError(f"validation_share must be in [0, 0.5), got {self.validation_share!r}.")
        if not (isinstance(self.rare_threshold, int) and self.rare_threshold >= 1):
            raise ValueError(f"rare_threshold must be a positive integer, got {self.rare_threshold!r}.")
        if not 0.0 <= self.clip_quantile < 0.5:
            raise ValueError(f"clip_quantile must be in [0, 0.5), got {self.clip_quantile!r}.")
        if not (isinstance(self.n_bins, int) and self.n_bins >= 1):
            raise ValueError(f"n_bins must be a positive integer, got {self.n_bins!r}.")
        values = self.fine_bins.values() if isinstance(self.fine_bins, dict) else [self.fine_bins]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
            raise ValueError(f"fine_bins must be a positive integer or a dict of column -> positive integer, got "
                             f"{self.fine_bins!r}.")

    # ------------------------------------------------------------------ encoding hooks
    def _new_encoder(self, metadata: Metadata) -> TokenTable:
        return TokenTable(metadata, n_bins=self.n_bins, fine_bins=self.fine_bins, rare_threshold=self.rare_threshold,
                          clip_quantile=self.clip_quantile, random_state=self.seed_)

    def _encoder_from_state(self, state: dict) -> TokenTable:
        return TokenTable.from_state(self.metadata_, state)

    def fit(self, data: Any, metadata: Metadata | str | None = None, *, context: list[str] | None = None,
            **options) -> "Autoregressive":
        """Learn the table's distribution (see :meth:`BaseSynthesizer.fit` for ``options``).

        Parameters
        ----------
        context : list of str or None
            Columns that are always given when sampling, so the model learns only
            p(other columns | context): a context column is never a target (no loss, no
            network output used) and comes first in every training order. Such a model
            samples with :meth:`sample_given` (every context column given) and
            :meth:`impute` (no context cell missing); :meth:`sample` refuses. The sequence
            models of :class:`~tabsynth.ParentChild` are fitted this way (the parent, the
            position and the previous children are context), which spends the network on
            what is drawn and skips the logits of the rest (on credit's statements 6 of the
            26 token columns are targets).

        Raises
        ------
        ValueError
            As :meth:`BaseSynthesizer.fit`, and for a ``context`` column missing from ``data``
            or a ``context`` that leaves no learned column to model.
        """
        context, columns = list(context or []), list(as_dataframe(data).columns)
        absent = [c for c in context if c not in columns]
        if absent:
            raise ValueError(f"context column(s) {absent} are not in the training table.")
        if context and set(columns) <= set(context):  # before a DP fit spends any budget
            raise ValueError(f"context {sorted(context)} covers every column: nothing is left to model.")
        self._context = context
        try:
            return super().fit(data, metadata, **options)
        finally:
            del self._context

    def _on_encoder_ready(self) -> None:
        self.null_tokens_ = self.encoder_.null_tokens()
        context = set(getattr(self, "_context", ()))  # fitting: what fit was told; loading: none until the tensors
        self.targets_ = torch.tensor([owner not in context for owner in self.encoder_.token_owners_], dtype=torch.bool)
        if len(self.targets_) and context and not self.targets_.any():
            raise ValueError(f"context {sorted(context)} covers every learned column: nothing is left to model.")
        history = getattr(self, "loss_history_", None)
        if history and "validation_nll" in history[0]:  # a loaded model: the kept epoch is the best validation one
            self.best_epoch_ = min(history, key=lambda h: h["validation_nll"])["epoch"]
        elif history:  # DP mode keeps the last epoch
            self.best_epoch_ = history[-1]["epoch"]

    _supports_privacy_units = True  # DP-SGD by ghost clipping takes per-row clipping shares

    def _release_encoder(self, frame: pd.DataFrame, schema: Metadata, ledger: PrivacyLedger,
                         rng: np.random.Generator) -> tuple[Metadata, TokenTable, list[str]]:
        release = release_token_table(frame, schema, ledger, rng, n_bins=self.n_bins, clip_quantile=self.clip_quantile,
                                      fine_bins=self.fine_bins)
        self._released_counts = release.token_counts
        return release.metadata, release.encoder, release.notes

    def _encode(self, frame: pd.DataFrame) -> torch.Tensor:
        return torch.as_tensor(self.encoder_.transform(frame), device=self.device_)  # (n, J) int64

    def _build_networks(self) -> None:
        self.config_ = ARNetworkConfig(vocabulary_sizes=tuple(self.encoder_.vocabulary_sizes_),
                                       embedding_dim=self.embedding_dim, hidden_dim=self.hidden_dim,
                                       dropout=self.dropout)
        self.network_ = ColumnAR(self.config_).to(self.device_)

    def _networks(self) -> dict[str, nn.Module]:
        return {"network": self.network_}

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        # Which token columns are modelled; saved only for a model with context (older files: all).
        return {} if bool(self.targets_.all()) else {"targets": self.targets_.cpu()}

    def _saved_format(self) -> int:
        return 3 if self._has_context() or len(self.encoder_.token_columns_) > len(self.encoder_.columns_) else 2

    def _load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if "targets" in tensors:
            self.targets_ = tensors["targets"].cpu().bool()

    @property
    def context_columns_(self) -> list[str]:
        context = {owner for owner, target in zip(self.encoder_.token_owners_, self.targets_.tolist()) if not target}
        return [name for name in self.encoder_.columns_ if name in context]

    # ------------------------------------------------------------------ column orders
    def _has_context(self) -> bool:
        return not bool(self.targets_.all())

    def _target_index(self) -> torch.Tensor | None:
        """``(T,)`` int64 token columns the loss covers, on the model's device; None when every
        column is a target."""
        if not self._has_context():
            return None
        return self._indices_on_device()[0]

    def _indices_on_device(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(targets, context)`` token column indices on the model's device, computed once per
        fit / load rather than per batch."""
        cached = getattr(self, "_index_cache", None)
        if cached is None or cached[0] is not self.targets_:
            self._index_cache = (self.targets_, torch.nonzero(self.targets_).flatten().to(self.device_),
                                 torch.nonzero(~self.targets_).flatten().to(self.device_))
        return self._index_cache[1], self._index_cache[2]

    def _training_positions(self, n_rows: int) -> torch.Tensor:
        """``(B, J)`` positions for one batch (:func:`training_positions`).

        With context, a share :data:`CONTEXT_FIRST_SHARE` of the rows puts every context
        column first and the targets' orders after them (the orders sampling uses); the
        other rows take the unconditional orders over all columns, so a target also learns
        from part of its context. Only the targets are predicted either way. That share of
        partial context is what the any-order training of a model without context gives
        it; with the whole context always first, a conditional sequence model over-fits
        small tables (2,000 CDNOW customers, ``benchmarks/parent_child_vs_peers.py
        --max-parents 2500``: child column shapes 0.916 that way, 0.953 with this mix).
        """
        n_columns = len(self.targets_)
        free = training_positions(n_rows, n_columns, self._train_generator, self.device_)
        if not self._has_context():
            return free
        targets = self._target_index()
        own = training_positions(n_rows, len(targets), self._train_generator, self.device_)
        first = torch.rand((n_rows, 1), generator=self._train_generator, device=self.device_) < CONTEXT_FIRST_SHARE
        return torch.where(first, self._with_context_first(own, targets), free)

    def _table_positions(self) -> torch.Tensor:
        """``(J,)`` positions of the table order (context first when there is context)."""
        n_columns = len(self.targets_)
        if not self._has_context():
            return table_positions(n_columns, self.device_)
        targets = self._target_index()
        return self._with_context_first(table_positions(len(targets), self.device_)[None, :], targets)[0]

    def _with_context_first(self, own: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``own`` (B, T) positions of the targets -> (B, J): context columns at 0..C-1 (their
        order among themselves does not matter: none is predicted), targets after them."""
        context = self._indices_on_device()[1]
        positions = torch.empty((len(own), len(self.targets_)), dtype=torch.long, device=self.device_)
        positions[:, context] = torch.arange(len(context), device=self.device_)
        positions[:, targets] = own + len(context)
        return positions

    def _visible(self, positions: torch.Tensor) -> torch.Tensor:
        """What each target may look at: (J, [B,] J), or (T, [B,] J) with context."""
        visible = visibility(positions)
        targets = self._target_index()
        return visible if targets is None else visible.index_select(0, targets)

    # ------------------------------------------------------------------ training
    def _fit_matrix(self, tokens: torch.Tensor) -> None:
        """Maximum likelihood with a held-out validation split and early stopping."""
        if tokens.shape[1] == 0:  # nothing to learn: only id / key / constant columns
            self.loss_history_, self.best_epoch_ = [], 0
            if self.dp is not None:
                self.privacy_ = self.privacy_ledger_.to_dict()
            return
        if self.dp is not None:
            self._fit_private(tokens)
            return
        train, validation = self._split(tokens)
        self.network_.start_from_marginals([torch.bincount(train[:, j], minlength=size).float()
                                            for j, size in enumerate(self.encoder_.vocabulary_sizes_)])
        optimizer = adam(self.network_.parameters(), self.learning_rate, 0.0, betas=(0.9, 0.999))
        # Early stopping watches both uses of the model: unconditional sampling (table order)
        # and conditional sampling / imputation (given columns first), on fixed orders.
        any_order = self._training_positions(len(validation))
        self.loss_history_, best, best_state, waited = [], float("inf"), None, 0
        progress = tqdm(range(1, self.epochs + 1), desc="Autoregressive", unit="epoch", disable=not self.verbose)
        for epoch in progress:
            start = time.perf_counter()
            train_nll = self._train_epoch(train, optimizer)
            table_nll, any_order_nll = self._validation_nll(validation, any_order) if len(validation) else (
                train_nll, train_nll)
            validation_nll = (table_nll + any_order_nll) / 2
            self.loss_history_.append({"epoch": epoch, "train_nll": train_nll, "validation_nll": validation_nll,
                                       "validation_table_order_nll": table_nll,
                                       "validation_any_order_nll": any_order_nll,
                                       "seconds": time.perf_counter() - start})
            progress.set_postfix(train=f"{train_nll:.3f}", validation=f"{validation_nll:.3f}")
            if validation_nll < best - 1e-4:
                best, waited, self.best_epoch_ = validation_nll, 0, epoch
                best_state = {k: v.detach().clone() for k, v in self.network_.state_dict().items()}
            else:
                # Halve the step on a plateau: the last epochs fine-tune instead of jittering
                # around the optimum (a noisy step leaves marginals off by a few percent).
                waited += 1
                for group in optimizer.param_groups:
                    group["lr"] *= 0.5
            self._end_of_epoch(epoch)
            if waited >= self.patience:
                break
        progress.close()
        self.network_.load_state_dict(best_state)

    def _fit_private(self, tokens: torch.Tensor) -> None:
        """DP-SGD for a fixed number of steps, the noise calibrated so the ledger meets its target."""
        n = tokens.shape[0]
        units = self._units  # person-level DP: Poisson sampling of persons, rows clipped to shares
        batcher = None if units is None else units.batcher(self.device_)
        # Output biases from the released (noisy) token counts: post-processing, free.
        self.network_.start_from_marginals([torch.as_tensor(c, dtype=torch.float32) for c in self._released_counts])
        optimizer = adam(self.network_.parameters(), self.learning_rate, 0.0, betas=(0.9, 0.999))
        # Ghost clipping: the network's layers see the batch second (see ColumnAR).
        engine = self._private_trainer(self.network_, optimizer, n if units is None else units.n_units,
                                       list(self.encoder_.columns_),  # the columns it reads
                                       mode="ghost", batch_first=False,
                                       # Every layer lies between the loss and the embedding, except the
                                       # map of hidden columns, whose input is the mask.
                                       norm_pass_inputs=[self.network_.embedding.weight, self.network_.absent.weight])

        self.network_.train()
        self.loss_history_ = []  # epochs and seconds only: losses of raw rows are not released
        progress = tqdm(range(1, self.epochs + 1), desc="Autoregressive (DP)", unit="epoch", disable=not self.verbose)
        for epoch in progress:
            start = time.perf_counter()
            for indices in engine.batches():
                rows, shares = (indices.to(self.device_), None) if batcher is None else batcher.rows(indices)
                batch = tokens[rows]
                positions = self._training_positions(len(batch))
                engine.ghost_step(lambda: self._row_nll(batch, self._visible(positions)), len(batch), shares)
            self.loss_history_.append({"epoch": epoch, "seconds": time.perf_counter() - start})
            self._end_of_epoch(epoch)
        progress.close()
        self.best_epoch_ = self.epochs

    def _split(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Seeded random split into training and validation rows."""
        n = tokens.shape[0]
        n_validation = int(round(n * self.validation_share)) if n >= 20 else 0
        order = torch.randperm(n, generator=self._train_generator, device=self.device_)
        return tokens[order[n_validation:]], tokens[order[:n_validation]]

    def _train_epoch(self, data: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
        self.network_.train()
        n = data.shape[0]
        order = torch.randperm(n, generator=self._train_generator, device=self.device_)
        steps = steps_per_epoch(n, self.batch_size)
        total = torch.zeros((), device=self.device_)
        for step in range(steps):
            batch = data[order[step * self.batch_size : (step + 1) * self.batch_size]]
            positions = self._training_positions(len(batch))
            loss = self._batch_nll(batch, self._visible(positions))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach()
        return float(total / steps)

    def _target_logits(self, batch: torch.Tensor, visible: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(T, B, V)`` of the modelled columns and their tokens ``(T, B)`` (T = J
        without context); ``visible`` from :meth:`_visible`."""
        targets = self._target_index()
        if targets is None:
            return self.network_(batch, visible), batch.T
        return self.network_(batch, visible, targets), batch.T.index_select(0, targets)

    def _row_nll(self, batch: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """``(B,)`` NLL of each row, summed over its modelled columns, in nats."""
        logits, tokens = self._target_logits(batch, visible)  # (T, B, V), (T, B)
        n_columns, rows, width = logits.shape
        nll = nn.functional.cross_entropy(logits.reshape(-1, width), tokens.reshape(-1), reduction="none")
        return nll.reshape(n_columns, rows).sum(0)

    def _batch_nll(self, batch: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """Mean over rows of the summed per-column cross-entropy, in nats."""
        logits, tokens = self._target_logits(batch, visible)  # (T, B, V), (T, B)
        rows, width = logits.shape[1:]
        nll = nn.functional.cross_entropy(logits.reshape(-1, width), tokens.reshape(-1), reduction="sum")
        return nll / rows

    @torch.no_grad()
    def _nll(self, data: torch.Tensor, positions: torch.Tensor, batch_size: int = 4096) -> float:
        """Mean NLL per row of ``data`` under the given ``(J,)`` or ``(n, J)`` column positions."""
        self.network_.eval()
        total = 0.0
        for i in range(0, len(data), batch_size):
            chunk = data[i : i + batch_size]
            rows = positions if positions.dim() == 1 else positions[i : i + batch_size]
            total += float(self._batch_nll(chunk, self._visible(rows))) * len(chunk)
        return total / len(data)

    def _validation_nll(self, validation: torch.Tensor, any_order: torch.Tensor) -> tuple[float, float]:
        """(table-order NLL, any-order NLL) of the validation rows; ``any_order`` is fixed per fit."""
        return self._nll(validation, self._table_positions()), self._nll(validation, any_order)

    @torch.no_grad()
    def negative_log_likelihood(self, data: Any, *, batch_size: int = 4096) -> np.ndarray:
        """Each row's negative log-likelihood under the model, in nats (table order).

        Summed over the modelled columns' tokens (a numerical value counts as its bin or
        point mass, and its sub-bin where it has a fine token; id, key and constant columns,
        and the context of a model fitted with ``context``, are not scored). Used by the
        privacy audit's white-box attack.

        Parameters
        ----------
        data : pandas.DataFrame or pyarrow.Table
            Rows with the training table's columns.

        Returns
        -------
        ndarray of float64, shape (n,)

        Raises
        ------
        NotFittedError
        ValueError
            If columns are missing or values do not fit the metadata.
        """
        self._check_fitted()
        frame = self.metadata_.check_frame(as_dataframe(data), what="table to score")
        tokens = self._encode(frame)
        if tokens.shape[1] == 0:
            return np.zeros(len(frame))
        visible = self._visible(self._table_positions())
        with self._eval_mode():
            parts = [self._row_nll(tokens[i : i + batch_size], visible).double().cpu().numpy()
                     for i in range(0, len(tokens), batch_size)]
        return np.concatenate(parts)

    def membership_scores(self, data: Any) -> np.ndarray:
        """White-box membership score of each row (higher: more likely a training row): its
        log-likelihood, ``-negative_log_likelihood(data)``; ``(n,)`` float64. The privacy audit's attack."""
        return -self.negative_log_likelihood(data)

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, conditions: dict[str, Any] | None = None, *, batch_size: int = 10_000,
               random_state: int | None = None) -> pd.DataFrame:
        """Generate ``n`` synthetic rows, optionally with some columns fixed.

        Parameters
        ----------
        n : int
        conditions : dict or None
            ``{column: condition}``; a condition is a value (category, number, datetime),
            a list/set of categories, a ``(low, high)`` inclusive range on a numerical or
            datetime column (``None`` for an open side), or None for null. Given columns
            are drawn first, restricted to what the condition allows, and the other
            columns are then drawn given them, so 100% of rows meet every condition
            without rejection. A value condition on a numerical column gives exactly that
            value. With two or more range conditions, each is drawn given the earlier
            ones only (its own restriction is exact, the joint weighting approximate).
            A number with a fine token (``fine_bins``) has its sub-bin drawn given its bin,
            not the range: in the two bins the range cuts, a sub-bin outside it leaves the
            value to the range's part of the bin (the restriction stays exact).
        batch_size : int, default 10000
        random_state : int or None
            As in :meth:`tabsynth.CTGAN.sample`.

        Returns
        -------
        pandas.DataFrame with the training table's columns and dtypes.

        Raises
        ------
        NotFittedError
        ValueError
            On a bad ``n``, an unknown column, a value that is not an emitted category
            (rare ones are protected and answered like unknown ones), or a range with no
            value the model generates.
        """
        generator = self._check_sample_call(n, batch_size, random_state)
        if self._has_context():
            raise ValueError(f"This model learns the other columns given the context {self.context_columns_} "
                             "(fit(context=...)); it cannot draw them: use sample_given with those columns.")
        allowed, bounds = self._parse_conditions(conditions or {})
        # A condition restricts a column's (first) token; its fine token is drawn after, given it.
        given = [self.encoder_.token_indices(c)[0] for c in allowed]
        masks = {self.encoder_.token_indices(c)[0]: m for c, m in allowed.items()}
        parts = []
        for start in range(0, int(n), int(batch_size)):
            rows = min(int(batch_size), int(n) - start)
            tokens = torch.zeros((rows, len(self.encoder_.token_columns_)), dtype=torch.long, device=self.device_)
            parts.append(self._generate(tokens, given, masks, fixed=[], generator=generator).cpu().numpy())
        # Decode once, so generated id columns are unique across batches. A value condition on a
        # number has bounds (v, v), so the decoder's clipping gives exactly v.
        return self.encoder_.inverse_transform(np.concatenate(parts), numpy_rng(generator), bounds)

    def sample_given(self, given: Any, *, batch_size: int = 10_000, random_state: int | None = None) -> pd.DataFrame:
        """One synthetic row per row of ``given``: its columns kept, the others drawn from
        p(other columns | given columns) of that row (row-wise conditions, in batches).

        Unlike :meth:`impute`, a null in ``given`` is a value (the column's null token), not a
        hole: this is what a sequence model needs when "no previous event" is a fact.

        Parameters
        ----------
        given : pandas.DataFrame or pyarrow.Table
            ``(n, k)``: some of the learned columns (any order). Extra columns are refused.
        batch_size : int, default 10000
        random_state : int or None
            Seed for this call (else the model's sampling stream advances).

        Returns
        -------
        pandas.DataFrame
            ``n`` rows with the training table's columns and dtypes, in its order; the given
            columns hold ``given``'s values unchanged.

        Raises
        ------
        NotFittedError
        ValueError
            If ``given`` names a column the model does not learn, is empty, holds a null
            in a column trained without nulls, or lacks a context column of a model fitted
            with ``context``.
        """
        frame = as_dataframe(given).reset_index(drop=True)
        generator = self._check_sample_call(max(len(frame), 1), batch_size, random_state)
        columns = self.encoder_.columns_
        unknown = [c for c in frame.columns if c not in columns]
        if unknown:
            raise ValueError(f"sample_given: column(s) {unknown} are not learned by this model; it learns {columns}.")
        if len(frame) == 0:
            raise ValueError("sample_given: the table of given values is empty (0 rows).")
        for name in frame.columns:
            if not self.metadata_[name].nullable and frame[name].isna().any():
                raise ValueError(f"sample_given: column '{name}' holds nulls but was trained without them.")
        lacking = [c for c in self.context_columns_ if c not in frame.columns]
        if lacking:
            raise ValueError(f"sample_given: the model's context column(s) {lacking} are not given; a model "
                             "fitted with context draws the other columns given all of it.")
        full = frame.reindex(columns=self.metadata_.names)  # the other columns as placeholders
        tokens = torch.as_tensor(self._tokens_allowing_nulls(full), device=self.device_)
        fixed = [j for c in frame.columns for j in self.encoder_.token_indices(c)]
        parts = []
        for start in range(0, len(frame), int(batch_size)):
            chunk = tokens[start:start + int(batch_size)].clone()
            parts.append(self._generate(chunk, given=[], masks={}, fixed=fixed, generator=generator).cpu().numpy())
        result = self.encoder_.inverse_transform(np.concatenate(parts), numpy_rng(generator))
        for name in frame.columns:  # a decoded bin would only approximate the given number
            result[name] = frame[name].to_numpy()
        return result

    def _parse_conditions(self, conditions: dict[str, Any]) -> tuple[dict, dict]:
        """-> (column: allowed-token mask tensor, column: numeric bounds for the in-bin draws)."""
        allowed, bounds = {}, {}
        for column, condition in conditions.items():
            mask, bound = self.encoder_.allowed_tokens(column, condition)
            allowed[column] = torch.as_tensor(mask, device=self.device_)
            if bound is not None:
                bounds[column] = bound
        return allowed, bounds

    @torch.no_grad()
    def _generate(self, tokens: torch.Tensor, given: list[int], masks: dict[int, torch.Tensor],
                  fixed: list[int], generator: torch.Generator) -> torch.Tensor:
        """Fill ``tokens`` (B, J) column by column.

        Order: the ``fixed`` columns (kept as they are), then the ``given`` columns (drawn
        under their masks), then the rest in table order. ``masks`` maps a column to the
        ``(V_j,)`` bool tokens it may take.
        """
        self.network_.eval()
        n_columns = tokens.shape[1]
        first = list(fixed) + [c for c in given if c not in fixed]
        order = first + [c for c in range(n_columns) if c not in first]
        seen = torch.zeros(n_columns, dtype=torch.bool, device=self.device_)
        for column in order:
            if column not in fixed:
                target = torch.tensor([column], device=self.device_)
                logits = self.network_(tokens, seen.unsqueeze(0), target)[0]  # (B, V)
                if column in masks:
                    allowed = masks[column]
                    logits = logits[:, : len(allowed)].masked_fill(~allowed, float("-inf"))
                tokens[:, column] = _draw(logits, generator)
            seen[column] = True
        return tokens

    # ------------------------------------------------------------------ imputation
    def impute(self, data: Any, *, random_state: int | None = None) -> pd.DataFrame:
        """Fill the missing cells of a table; every other cell is returned unchanged.

        Each row's observed cells are given to the model and its missing cells drawn
        from p(missing | observed), never as null. Rows are processed in groups that
        share the same missing columns.

        Parameters
        ----------
        data : pandas.DataFrame or pyarrow.Table
            Rows with the training table's columns; nulls mark the cells to fill.
        random_state : int or None
            Seed for this call (else the model's sampling stream advances).

        Returns
        -------
        pandas.DataFrame
            A copy of ``data`` (same index, same extra columns) with nulls in learned
            columns filled; id, key and constant columns are left as they are. Filled columns
            take the training table's dtypes.

        Raises
        ------
        NotFittedError
        ValueError
            If columns are missing or hold values the model's metadata does not allow, or a
            context column (``fit(context=...)``) has missing cells.
        """
        generator = self._check_sample_call(1, 1, random_state)
        original = as_dataframe(data)
        frame = self.metadata_.check_frame(original, what="table to impute").reset_index(drop=True)
        columns = self.encoder_.columns_
        missing = frame[columns].isna().to_numpy()  # (n, J): learned columns
        unknown_context = [c for c in self.context_columns_ if frame[c].isna().any()]
        if unknown_context:
            raise ValueError(f"impute: context column(s) {unknown_context} have missing cells; the model conditions "
                             "on its context and cannot fill it.")
        slots = [self.encoder_.token_indices(c) for c in columns]  # each column's token columns
        # Nulls are placeholders here, so tokenise with any allowed value and overwrite later.
        tokens = torch.as_tensor(self._tokens_allowing_nulls(frame), device=self.device_)
        result = frame.copy()
        not_null = {j: self._not_null_mask(j) for j in range(len(self.encoder_.token_columns_))}
        for pattern in np.unique(missing, axis=0):
            if not pattern.any():
                continue
            rows = np.flatnonzero((missing == pattern).all(axis=1))
            fixed = [t for j in range(len(columns)) if not pattern[j] for t in slots[j]]
            holes = [t for j in range(len(columns)) if pattern[j] for t in slots[j]]
            filled = self._generate(tokens[torch.as_tensor(rows, device=self.device_)].clone(), given=[],
                                    masks={j: not_null[j] for j in holes}, fixed=fixed, generator=generator)
            decoded = self.encoder_.inverse_transform(filled.cpu().numpy(), numpy_rng(generator))
            for j in np.flatnonzero(pattern):
                name = columns[j]
                result[name] = result[name].astype(object)
                result.loc[rows, name] = decoded[name].to_numpy(dtype=object)
        completed = original.copy()  # keeps the caller's index and any extra columns
        for j in np.flatnonzero(missing.any(axis=0)):  # filled columns get the training dtype back
            name = columns[j]
            filled_column = restore_dtype(result[name].infer_objects(), self.metadata_[name])
            completed[name] = filled_column.set_axis(completed.index)
        return completed

    def _tokens_allowing_nulls(self, frame: pd.DataFrame) -> np.ndarray:
        """Tokens of ``frame`` where a null in a non-nullable column gets token 0 (to be imputed)."""
        filled = frame.copy()
        for name in self.encoder_.columns_:
            meta = self.metadata_[name]
            if not meta.nullable and filled[name].isna().any():
                stand_in = meta.categories[0] if meta.kind == "categorical" else (
                    meta.minimum if meta.kind == "numerical" else pd.Timestamp(meta.minimum))
                filled[name] = filled[name].astype(object).where(filled[name].notna(), stand_in)
        return self.encoder_.transform(filled)

    def _not_null_mask(self, column: int) -> torch.Tensor:
        size = self.encoder_.vocabulary_sizes_[column]
        mask = torch.ones(size, dtype=torch.bool, device=self.device_)
        if self.null_tokens_[column] is not None:
            mask[self.null_tokens_[column]] = False
        return mask


def _draw(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One categorical draw per row from ``(B, V)`` logits (-inf = impossible)."""
    probabilities = torch.softmax(logits.float(), dim=1)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(1)
