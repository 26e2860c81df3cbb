"""ParentChild: whole customers with their ordered histories, from the autoregressive flagship.

See :mod:`tabsynth.relational.sequences` for the decomposition: a flagship model of the
parents (with each parent's number of children and first order value as extra columns), and
one flagship model per child table of p(child | parent, position, elapsed, previous children),
sampled position by position for every parent at once.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from tabsynth._version import __version__
from tabsynth.encoding.base import restore_dtype
from tabsynth.metadata import ColumnMetadata, Metadata, as_dataframe
from tabsynth.models.autoregressive import Autoregressive
from tabsynth.models.base import EstimatorParams, NotFittedError, json_param, resolve_device
from tabsynth.persistence import SavedModel, write_model_directory
from tabsynth.privacy.config import DPConfig
from tabsynth.privacy.schema import schema_only
from tabsynth.relational import panel
from tabsynth.relational import sequences as seq

DEFAULT_CHILD = "children"
# Children per parent and table kept under DP when max_children is not given: a public,
# data-independent bound on a parent's rows (the person-level clipping divides among them).
DP_MAX_CHILDREN = 16
# Quantile bins per numerical column of a parent model that holds wide tables (unless
# model_params sets n_bins, and not under DP, where bin edges are noisy releases). A panel
# repeats one quantity month after month, and the flagship draws a number uniformly within
# its bin: at its default 32 bins that blurs each month against the last (credit's six
# statements, the wide layout's first version, two seeds: lag-1 differences KS 0.955 / 0.957
# at 32 bins, 0.967 / 0.971 at 128; autocorrelation 0.882 / 0.880 against 0.900 / 0.898).
WIDE_N_BINS = 128


class ParentChild(EstimatorParams):
    """Parent-child synthesizer: a parent table and one or more ordered child tables.

    Parameters
    ----------
    key : str
        The column linking children to parents (the parent table's unique key).
    order_by : str, dict of str -> str, or None, default None
        The child column giving the order within a parent (datetimes, or strings that parse
        as them, or integers); a dict maps child table names to theirs. Without it children
        keep their input order and no order column is generated.
    history : int or "auto", default "auto"
        Previous children a child is conditioned on (the training window is ``history + 1``).
        "auto": 2 for panels of three or more (every parent with children has the same number
        of them: monthly statements), where the last two statements give the direction a
        balance is moving in,
        and 1 for event sequences of varying length (purchases), which have the running means
        instead; under ``dp`` 1 (the choice may not read the data). Measured
        (``benchmarks/parent_child_vs_peers.py``, 2 CPU cores, fine tokens and the conditional
        sequence model, seeds 0 / 1 / 2): on the credit statements 2 against 1 lifts the
        within-sequence autocorrelation KS from 0.915 / 0.914 to 0.941 / 0.940 and takes
        C2ST-Agg from 0.538 / 0.551 to 0.516 / 0.516; on CDNOW it costs child column shapes
        (0.982 / 0.981 / 0.985 against 0.969 / 0.974 / 0.959) and C2ST-Agg (0.567 / 0.566 /
        0.554 against 0.591 / 0.580 / 0.593). ``history_`` holds each table's.
    running_mean : bool or "auto", default "auto"
        Whether a child also sees the mean of each numerical column (gaps included) over all
        its earlier children (``__mean__.<col>``): what a window of ``history`` children cannot
        carry, a customer's usual spend and pace. "auto" turns it on for event sequences of
        varying length and off for panels (every parent with children has the same number:
        monthly statements), where position and parent already tell a step apart (judged after
        the ``max_children`` cap). Measured
        (``benchmarks/parent_child_vs_peers.py``): on CDNOW's purchases it lifts the
        within-sequence autocorrelation KS from 0.846 to 0.981; on the credit statements it
        lowers the parent-to-child trends from 0.961 to 0.931. Under ``dp`` "auto" means on:
        the choice may not read the data. ``running_mean_`` holds each table's choice.
    model_params : dict or None
        Keyword arguments for every :class:`~tabsynth.Autoregressive` inside (``epochs``,
        ``batch_size``, ``hidden_dim``, ...); without ``n_bins`` a parent model holding wide
        tables takes :data:`WIDE_N_BINS`; ``fine_bins`` there overrides the one below.
    fine_bins : int, default 16
        In each sequence model, every numerical child column, its gap and their lagged copies
        get a fine token of this many sub-bins where they have quantile bins (a gap of 30 or 31
        days is all point masses and gets none; 1: none at all; see
        :class:`~tabsynth.Autoregressive`): a number is then known to ``n_bins * fine_bins``
        quantiles, so a bill that stays put from one month to the next is drawn near where it
        was, not anywhere in its bin. Under ``dp`` it costs no budget (a function of the
        released bins).
    device : str, default "auto"
    random_state : int or None
    verbose : bool, default True
    dp : DPConfig or None, default None
        Differential privacy with the parent as the privacy unit: neighbouring datasets
        differ by one parent with all its children. The budget is spent in stages on one
        ledger (:func:`~tabsynth.privacy.accounting.staged_configs`): the parent model's DP
        fit (one row per parent), then each child table's model with person-level DP-SGD
        (:mod:`tabsynth.privacy.units`: Poisson sampling of parents, each of a parent's ``k``
        windows clipped to ``max_grad_norm / k``; its statistics from one random child per
        parent). ``privacy_`` is the whole ledger. Under DP the synthetic keys are text
        (``syn-1``, ...), read from nothing; each parent keeps at most ``max_children``
        children per table.
    max_children : int or None, default None
        Keep each parent's first ``max_children`` children (in order) of every table; None
        keeps all, except under ``dp`` where it defaults to 16 (a person's rows must be
        bounded, and the cap must not come from the data).
    layout : {"sequence", "wide"} or dict of str -> either, default "sequence"
        How a child table is learned (a dict maps table names to theirs; tables it leaves out
        are "sequence"). "sequence": its own flagship model of p(child | parent, position,
        elapsed, previous ``history`` children), sampled position by position. "wide": the
        table in wide layout (:mod:`tabsynth.relational.panel`): child ``p`` becomes columns
        ``__at<p>__.<col>`` of the parent frame, so the parent model learns each parent with
        all its children jointly (every child sees the parent and every other child), with
        :data:`WIDE_N_BINS` quantile bins unless ``model_params`` sets ``n_bins``. Meant for
        panels (a few children per parent: monthly statements). Its width is the most
        children a parent has; under ``dp`` it is ``max_children``, which must then be given
        (the width must not come from the data). Refused beyond 128 wide columns per table.
        Measured (``benchmarks/parent_child_vs_peers.py``, credit's six monthly statements, 2
        CPU cores): on 24,000 clients "wide" fits in 197 s against 491 s, parent-to-child
        trends 0.947 against 0.961 (a first version: 0.973 / 0.949 over two seeds), C2ST-Agg
        0.548 against 0.570, autocorrelation KS 0.898 against 0.901; on 10,000 clients (the
        first version) parent-to-child 0.978
        against 0.908 but C2ST-Agg 0.657 against 0.584 and autocorrelation 0.851 against 0.890;
        on 2,000 "sequence" is well ahead on detection, sequence coherence and parent-to-child
        trends. Hence not the default.
        ``layouts_`` holds each table's layout.

    Attributes
    ----------
    parent_model_ : Autoregressive
        Learns the parent columns, ``__n__.<table>`` and ``__start__.<table>``.
    child_models_ : dict of str -> Autoregressive
        One per child table, learning its step frame.
    running_mean_ : dict of str -> bool
        Per child table, whether its model sees the running means (see ``running_mean``;
        False for wide tables).
    history_ : dict of str -> int
        Per sequence table, the previous children each child sees (see ``history``).
    layouts_ : dict of str -> {"sequence", "wide"}
        Per child table, how it is learned (see ``layout``); ``child_models_`` holds the
        "sequence" ones only.
    widths_ : dict of str -> int
        Per wide child table, its positions.
    tables_ : list of str
        Child table names (``"children"`` when ``fit`` got one DataFrame).
    parents_derived_ : bool
        Whether the parent table was the set of keys (``fit`` got no ``parents``).
    parent_table_ : str
        The parent table's name (``"parents"`` unless ``fit`` was told).
    privacy_ : dict or None
        DP fits: the ledger of every mechanism of every inner model (``privacy.json``).

    References
    ----------
    Zhang, Patki & Veeramachaneni (2022), "Sequential Models in the Synthetic Data Vault" (PAR);
    Tiwald et al. (2025), "TabularARGN" (the flagship, and MOSTLY AI's context + sequence models).
    """

    name = "parent-child"
    # 2: wide layouts (``layouts`` / ``widths`` in the schema); format 1 directories still load
    # (every table a sequence), while an older tabsynth refuses a format-2 one instead of
    # looking for a wide table's missing sequence model.
    model_format = 2
    readable_formats = (1, 2)

    def __init__(self, *, key: str, order_by: str | dict[str, str] | None = None, history: int | str = "auto",
                 running_mean: bool | str = "auto", model_params: dict | None = None, device: str = "auto",
                 random_state: int | None = None, verbose: bool = True, dp: DPConfig | None = None,
                 max_children: int | None = None, layout: str | dict[str, str] = "sequence", fine_bins: int = 16):
        self.key = key
        self.fine_bins = fine_bins
        self.layout = layout
        self.dp = dp
        self.max_children = max_children
        self.order_by = order_by
        self.history = history
        self.running_mean = running_mean
        self.model_params = model_params
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    def fit(self, children: Any, parents: Any = None, *, parent_table_name: str | None = None) -> "ParentChild":
        """Learn the parents and their children's sequences.

        Parameters
        ----------
        children : DataFrame, Arrow table, or dict of str -> either
            The child table(s), each with the ``key`` column (and its ``order_by`` column).
        parents : DataFrame, Arrow table or None
            One row per parent with a unique ``key``; without it the parent table is the set
            of keys found in the children (no parent attributes).
        parent_table_name : str or None
            The parent table's name (``parent_table_``; the CLI names output files by it);
            default ``"parents"``.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If a key column is missing, null or (in the parents) repeated, a child key is absent
            from the parents, an ``order_by`` column is missing or does not parse, a column name
            starts with ``__`` (reserved), ``history`` / ``model_params`` / ``layout`` are bad, or
            ``layout="wide"`` would add more than 128 columns to the parent model for one table
            (or, under ``dp``, comes without ``max_children``).
        """
        self._check_params()
        tables = self._as_tables(children)
        scales = {name: self._scale(name, frame) for name, frame in tables.items()}
        self.parents_derived_ = parents is None
        self.parent_table_ = parent_table_name or "parents"
        if parents is None:
            keys = pd.unique(pd.concat([frame[self.key] for frame in tables.values()], ignore_index=True))
            parents = pd.DataFrame({self.key: keys})
        parents = as_dataframe(parents).reset_index(drop=True)
        seq.check_parent_key(parents, self.key)
        seq.check_columns(parents, "parents")
        for name, frame in tables.items():
            seq.check_child_keys(frame, parents, self.key, name)
        self.device_ = resolve_device(self.device)
        self.seed_ = int(np.random.SeedSequence(self.random_state).generate_state(1)[0] % (2**31 - 1))
        seeds = np.random.default_rng(self.seed_).integers(0, 2**31 - 1, size=len(tables) + 1)
        sorted_tables = {name: seq.sort_children(frame, self.key, None if scales[name] is None
                                                 else scales[name].to_numbers(frame[scales[name].column]))
                         for name, frame in tables.items()}
        cap = self._children_cap()
        if cap is not None:
            sorted_tables = {name: seq.first_children(frame, self.key, cap) for name, frame in sorted_tables.items()}
        derived = seq.parent_frame(parents, self.key, sorted_tables, scales)
        self._record_schema(parents, tables, scales)
        widths = {name: self._wide_width(name, frame, scales[name]) for name, frame in sorted_tables.items()}
        self.layouts_ = {name: "sequence" if width is None else "wide" for name, width in widths.items()}
        self.widths_ = {name: width for name, width in widths.items() if width is not None}
        self.never_null_ = {}
        wide_frames, wide_metadata = [], []
        for name, frame in sorted_tables.items():
            if name in self.widths_:
                # Nullability is schema (public under DP too): a present child's value in a column
                # that never held a null must not come out null (see _filled_panels).
                self.never_null_[name] = [c for c in self.child_columns_[name] if frame[c].notna().all()]
                wide = panel.widen(frame, parents[self.key], self.key, scales[name], self.child_columns_[name],
                                   self.widths_[name])
                if self.dp is None:  # a position no parent fills in some column (a month never paid) is
                    wide = wide.loc[:, wide.notna().any().to_numpy()]  # not learned; it comes out null
                wide_frames.append(wide)
                wide_metadata.extend(panel.wide_metadata(frame, wide, scales[name], self.child_columns_[name],
                                                         self.widths_[name], private=self.dp is not None))
        # The parent frame as the sequence tables' models see it: without the wide columns.
        context = derived
        metadata = None
        if wide_frames:
            derived = pd.concat([derived, *wide_frames], axis=1)
            metadata = Metadata(list(Metadata.infer(context)) + wide_metadata)
        stages = self._privacy_stages(1 + sum(layout == "sequence" for layout in self.layouts_.values()))
        self._say(f"Parents: {len(parents):,} rows; fitting the parent model"
                  + "".join(f" (with '{n}' in wide layout, {w} positions)" for n, w in self.widths_.items()))
        self.parent_model_ = self._fit_part("parent", int(seeds[0]), derived, metadata, None, stages,
                                            wide=bool(self.widths_))
        self.child_models_ = {}
        self.running_mean_ = {name: self.layouts_[name] == "sequence" and self._uses_running_mean(frame)
                              for name, frame in sorted_tables.items()}
        self.history_ = {name: self._history_of(frame) for name, frame in sorted_tables.items()
                         if self.layouts_[name] == "sequence"}
        for (name, frame), seed in zip(sorted_tables.items(), seeds[1:]):
            if self.layouts_[name] == "wide":
                continue
            history = self.history_[name]
            steps = seq.step_frame(frame, context, parents[self.key], self.key, scales[name],
                                   self.child_columns_[name], history, self.running_mean_[name])
            metadata = seq.step_metadata(steps, history)
            self._say(f"Child table '{name}': {len(frame):,} rows; fitting its sequence model")
            units = frame[self.key].to_numpy() if self.dp is not None else None
            own = self.child_columns_[name] + ([seq.GAP] if scales[name] is not None else [])
            self.child_models_[name] = self._fit_part(f"child.{name}", int(seed), steps, metadata, units, stages,
                                                      fine=seq.fine_columns(metadata, history),
                                                      context=[c for c in steps.columns if c not in own])
        self.privacy_ = None if self.dp is None else self._ledger.to_dict()
        if self.dp is not None:
            self._say("DP: the whole ledger (parent and child models)\n" + self._ledger.summary())
            del self._ledger, self._fitted_parts
        self._rng = np.random.default_rng(self.seed_ + 1)
        return self

    def _wide_width(self, name: str, children: pd.DataFrame, scale: seq.OrderScale | None) -> int | None:
        """The positions of this table's wide layout, or None for a sequence (see ``layout``);
        refuses a wide layout too wide to learn, and one under DP without the public
        ``max_children`` width."""
        layout = self.layout.get(name, "sequence") if isinstance(self.layout, dict) else self.layout
        if layout == "sequence":
            return None
        if self.dp is not None and self.max_children is None:
            raise ValueError(f"layout='wide' for child table '{name}' under dp needs max_children= (the panel's "
                             "length, a public bound: the width may not come from the data).")
        width = self._children_cap() if self.dp is not None else panel.wide_width(children, self.key)
        columns = panel.wide_count(len(self.child_columns_[name]), width, scale is not None)
        if columns > panel.MAX_WIDE_COLUMNS:
            raise ValueError(f"layout='wide' would give child table '{name}' {width} positions and {columns} "
                             f"columns in the parent model (at most {panel.MAX_WIDE_COLUMNS}); cap the children "
                             "with max_children= or use layout='sequence'.")
        return width

    def _history_of(self, children: pd.DataFrame) -> int:
        if self.history != "auto":
            return self.history
        # A panel of two children has no second-to-last one to look back to.
        panel = self.dp is None and seq.is_panel(children, self.key)
        return 2 if panel and children.groupby(self.key, sort=False).size().max() >= 3 else 1

    def _uses_running_mean(self, children: pd.DataFrame) -> bool:
        if self.running_mean != "auto":
            return bool(self.running_mean)
        return self.dp is not None or not seq.is_panel(children, self.key)

    def _children_cap(self) -> int | None:
        if self.max_children is None and self.dp is not None:
            return DP_MAX_CHILDREN
        return self.max_children

    def _privacy_stages(self, n_parts: int) -> list | None:
        """DP: the shared ledger (``_ledger``) and one cumulative target per inner model."""
        if self.dp is None:
            return None
        from tabsynth.privacy.accounting import PrivacyLedger, staged_configs

        self._ledger = PrivacyLedger(self.dp, neighbouring="add or remove one parent with all its children")
        self._fitted_parts: list[str] = []
        return staged_configs(self.dp, n_parts)

    def _fit_part(self, part: str, seed: int, frame: pd.DataFrame, metadata: Metadata | None, units, stages,
                  wide: bool = False, fine: list[str] = (), context: list[str] | None = None) -> Autoregressive:
        """Fit one inner flagship model; under DP on its stage of the shared ledger, with a
        schema of kinds only (no value facts of the data declared public) and ``units``
        (each row's parent key) as the privacy units. ``wide``: the frame holds wide tables
        (:data:`WIDE_N_BINS`); ``fine``: the columns given ``fine_bins`` sub-bins; ``context``:
        the columns the model conditions on without modelling them (a sequence model's)."""
        defaults = {"n_bins": WIDE_N_BINS} if wide and stages is None else {}
        if fine and self.fine_bins > 1:
            defaults["fine_bins"] = {column: self.fine_bins for column in fine}
        if stages is None:
            return self._flagship(seed, **defaults).fit(frame, metadata=metadata, context=context)
        config = stages[len(self._fitted_parts)]  # parts fit in turn: parent, then each child table
        start = len(self._ledger.mechanisms)
        model = self._flagship(seed, dp=config, **defaults).fit(
            frame, metadata=None if metadata is None else schema_only(metadata), privacy_units=units,
            ledger=self._ledger.stage(config), context=context)
        for mechanism in self._ledger.mechanisms[start:]:
            mechanism.part = part
        self._fitted_parts.append(part)
        return model

    def _check_params(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"key must be the name of the key column, got {self.key!r}.")
        if self.history != "auto" and (isinstance(self.history, bool) or not isinstance(self.history, int)
                                       or not 1 <= self.history <= 16):
            raise ValueError(f"history must be 'auto' or an integer from 1 to 16 (previous children each child "
                             f"sees), got {self.history!r}.")
        if self.model_params is not None and not isinstance(self.model_params, dict):
            raise ValueError(f"model_params must be a dict of Autoregressive arguments, got {self.model_params!r}.")
        for reserved in ("random_state", "device", "verbose", "dp"):
            if reserved in (self.model_params or {}):
                raise ValueError(f"model_params may not set '{reserved}'; ParentChild sets it (give it to "
                                 "ParentChild itself).")
        layouts = list(self.layout.values()) if isinstance(self.layout, dict) else [self.layout]
        if any(layout not in ("sequence", "wide") for layout in layouts):
            raise ValueError(f"layout must be 'sequence', 'wide' or a dict of table name -> either, got "
                             f"{self.layout!r}.")
        if self.running_mean != "auto" and not isinstance(self.running_mean, (bool, np.bool_)):
            raise ValueError(f"running_mean must be True, False or 'auto', got {self.running_mean!r}.")
        if isinstance(self.running_mean, np.bool_):
            self.running_mean = bool(self.running_mean)  # saved as JSON
        self.dp = DPConfig.from_value(self.dp)
        if isinstance(self.fine_bins, bool) or not isinstance(self.fine_bins, int) or self.fine_bins < 1:
            raise ValueError(f"fine_bins must be a positive integer (1: no fine tokens), got {self.fine_bins!r}.")
        if self.max_children is not None and (isinstance(self.max_children, bool) or not isinstance(
                self.max_children, int) or self.max_children < 1):
            raise ValueError(f"max_children must be a positive integer or None, got {self.max_children!r}.")

    def _as_tables(self, children: Any) -> dict[str, pd.DataFrame]:
        tables = children if isinstance(children, dict) else {DEFAULT_CHILD: children}
        if not tables:
            raise ValueError("children must be a table or a non-empty dict of named tables.")
        result = {}
        for name, frame in tables.items():
            frame = as_dataframe(frame).reset_index(drop=True)
            if len(frame) == 0:
                raise ValueError(f"Child table '{name}' is empty (0 rows).")
            seq.check_columns(frame, name)
            if self.key not in frame.columns:
                raise ValueError(f"Child table '{name}' has no key column '{self.key}'; its columns are "
                                 f"{list(frame.columns)}.")
            result[str(name)] = frame
        return result

    def _order_column(self, name: str) -> str | None:
        if isinstance(self.order_by, dict):
            return self.order_by.get(name)
        return self.order_by

    def _scale(self, name: str, frame: pd.DataFrame) -> seq.OrderScale | None:
        column = self._order_column(name)
        if column is None:
            return None
        if column not in frame.columns:
            raise ValueError(f"order_by column '{column}' is not in child table '{name}'; its columns are "
                             f"{list(frame.columns)}.")
        return seq.order_scale(frame[column], column, name)

    def _record_schema(self, parents: pd.DataFrame, tables: dict[str, pd.DataFrame], scales: dict) -> None:
        """What sampling needs to rebuild the tables' shape: columns, key and order dtypes."""
        self.tables_ = list(tables)
        self.parent_columns_ = list(parents.columns)
        self.table_columns_ = {name: list(frame.columns) for name, frame in tables.items()}
        self.child_columns_ = {name: [c for c in frame.columns if c not in (self.key, self._order_column(name))]
                               for name, frame in tables.items()}
        self.scales_ = scales
        self.order_metadata_ = {}
        for name, frame in tables.items():
            if scales[name] is not None:
                meta = Metadata.infer(frame[[scales[name].column]])[scales[name].column]
                # DP: the order column's kind, dtype and format only (its range is not public)
                self.order_metadata_[name] = meta if self.dp is None else schema_only(Metadata([meta]))[meta.name]
        keys = parents[self.key]
        self.key_dtype_ = str(keys.dtype)
        if self.dp is not None:  # read nothing from the keys: text keys from a fixed prefix
            self.key_dtype_, self.key_start_, self.key_prefix_ = "object", 1, "syn-"
        elif pd.api.types.is_integer_dtype(keys):
            self.key_start_ = int(keys.max()) + 1  # fresh keys after the real ones: none is real
            self.key_prefix_ = None
        else:
            text = keys.astype(str)
            prefix = "syn-"
            while text.str.startswith(prefix).any():  # a prefix no real key has: none is real
                prefix = "syn" + prefix
            self.key_start_, self.key_prefix_ = 1, prefix

    def _flagship(self, seed: int, dp: DPConfig | None = None, **defaults) -> Autoregressive:
        """An inner flagship model: ``model_params``, else ``defaults`` (``n_bins``, ``fine_bins``),
        else the flagship's own defaults."""
        params = {**defaults, **(self.model_params or {})}
        return Autoregressive(**params, device=self.device, random_state=seed, verbose=self.verbose, dp=dp)

    def _say(self, message: str) -> None:
        if self.verbose:
            tqdm.write(message)

    def _check_fitted(self) -> None:
        if not hasattr(self, "child_models_"):
            raise NotFittedError("This ParentChild is not fitted yet; call fit(children, parents) or "
                                 "tabsynth.load(path) first.")

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, conditions: dict[str, Any] | None = None, *, random_state: int | None = None
               ) -> tuple[pd.DataFrame, pd.DataFrame | dict[str, pd.DataFrame]]:
        """Generate ``n`` synthetic parents with their children.

        Parameters
        ----------
        n : int
            Parents.
        conditions : dict or None
            Conditions on parent columns, as in :meth:`tabsynth.Autoregressive.sample`; the
            children are drawn given the conditioned parents.
        random_state : int or None
            Seed for this call (else the model's own stream advances).

        Returns
        -------
        (parents, children)
            ``parents``: ``n`` rows with the parent table's columns and fresh unique keys (none
            is a real key); ``children``: the child table (a dict of them when ``fit`` got a
            dict), its ``key`` column holding the synthetic parents' keys, each parent's
            children consecutive and in order.

        Raises
        ------
        NotFittedError
        ValueError
            On a bad ``n`` or a condition the parent model refuses.
        """
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer number of parents, got {n!r}.")
        rng = self._call_rng(random_state)
        derived = self.parent_model_.sample(int(n), conditions, random_state=_seed(rng))
        keys = self._fresh_keys(int(n))
        parents = derived[[c for c in derived.columns if not c.startswith(seq.RESERVED)]].copy()
        parents.insert(self.parent_columns_.index(self.key), self.key, keys)
        parents = parents[self.parent_columns_]
        return parents, self._children_of(derived, keys, rng)

    def sample_children(self, parents: Any, *, random_state: int | None = None
                        ) -> pd.DataFrame | dict[str, pd.DataFrame]:
        """Generate histories for given parent rows (real, edited or hand-made customers).

        Each parent's number of children and first order value are drawn given its columns,
        then its children given the parent, as in :meth:`sample`.

        Parameters
        ----------
        parents : DataFrame or Arrow table
            Rows with the parent table's columns and a unique ``key`` column (any values: they
            are kept and carried by the children).
        random_state : int or None

        Returns
        -------
        DataFrame (or dict of them, one per child table)
            Children carrying the given keys.

        Raises
        ------
        NotFittedError
        ValueError
            If the key or a parent column is missing, the key is null or repeated, or a value
            is not one the parent model knows.
        """
        self._check_fitted()
        frame = as_dataframe(parents).reset_index(drop=True)
        seq.check_parent_key(frame, self.key, table="given parents")
        missing = [c for c in self.parent_columns_ if c not in frame.columns]
        if missing:
            raise ValueError(f"The given parents lack column(s) {missing} of the parent table.")
        rng = self._call_rng(random_state)
        own = [c for c in self.parent_columns_ if c != self.key and c in self.parent_model_.encoder_.columns_]
        if own:
            derived = self.parent_model_.sample_given(frame[own], random_state=_seed(rng))
        else:
            derived = self.parent_model_.sample(len(frame), random_state=_seed(rng))
        return self._children_of(derived, frame[self.key].to_numpy(), rng)

    def _call_rng(self, random_state: int | None) -> np.random.Generator:
        return self._rng if random_state is None else np.random.default_rng(random_state)

    def _fresh_keys(self, n: int) -> np.ndarray:
        numbers = np.arange(self.key_start_, self.key_start_ + n)
        if self.key_prefix_ is None:
            return numbers.astype(self.key_dtype_)
        return np.array([f"{self.key_prefix_}{i}" for i in numbers], dtype=object)

    def _children_of(self, derived: pd.DataFrame, keys: np.ndarray, rng: np.random.Generator):
        derived = self._filled_panels(self._consistent_starts(derived, rng), rng)
        tables = {name: self._sequences(name, derived, keys, rng) for name in self.tables_}
        return tables if self.tables_ != [DEFAULT_CHILD] else tables[DEFAULT_CHILD]

    def _consistent_starts(self, derived: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """A parent drawn with children but no first order value (the null that parents without
        children of that table have) gets one imputed from the parent model, given the rest of
        its row."""
        derived = derived.reset_index(drop=True)
        for name, scale in self.scales_.items():
            start = seq.START_PREFIX + name
            if scale is None or start not in derived.columns:
                continue
            holes = np.flatnonzero(derived[start].isna().to_numpy() & (derived[seq.N_PREFIX + name].to_numpy() > 0))
            if len(holes):
                filled = self.parent_model_.impute(derived.iloc[holes], random_state=_seed(rng))
                derived.loc[holes, start] = filled[start].to_numpy()
        return derived

    def _filled_panels(self, derived: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """Wide tables: a parent's child at a position below its ``__n__`` is present, so a null
        drawn there in a column that never held one (or in its gap) is imputed by the parent
        model given the rest of the row; positions from ``__n__`` on stay null (absent)."""
        holes = []  # (column, rows)
        for name, width in self.widths_.items():
            lengths = np.asarray(derived[seq.N_PREFIX + name], dtype=np.int64)
            for p in range(width):
                columns = self.never_null_[name] + ([seq.GAP] if p > 0 and self.scales_[name] is not None else [])
                for column in columns:
                    wide = panel.wide_name(p, column)
                    if wide in derived.columns:
                        rows = np.flatnonzero((lengths > p) & derived[wide].isna().to_numpy())
                        if len(rows):
                            holes.append((wide, rows))
        if not holes:
            return derived
        derived = derived.reset_index(drop=True)
        rows = np.unique(np.concatenate([r for _, r in holes]))
        filled = self.parent_model_.impute(derived.iloc[rows], random_state=_seed(rng))
        filled.index = rows
        for column, at in holes:
            derived.loc[at, column] = filled.loc[at, column].to_numpy()
        return derived

    def _sequences(self, name: str, derived: pd.DataFrame, keys: np.ndarray, rng: np.random.Generator
                   ) -> pd.DataFrame:
        """Child table ``name`` for the parents in ``derived``, generated position by position,
        each position one batched call over every parent whose sequence is that long (wide
        tables: read from the parent model's wide columns)."""
        scale = self.scales_[name]
        if self.layouts_[name] == "wide":
            lengths = np.asarray(derived[seq.N_PREFIX + name], dtype=np.int64)
            parts = panel.narrow_parts(derived, self.child_columns_[name], scale, self.widths_[name], lengths)
            return self._assemble(name, parts, derived, keys)
        model, history = self.child_models_[name], self.history_[name]
        learned = model.encoder_.columns_
        lengths = np.asarray(derived[seq.N_PREFIX + name], dtype=np.int64).clip(min=0)
        context = derived.add_prefix(seq.PARENT_PREFIX).reset_index(drop=True)
        context = context[[c for c in context.columns if c in learned]]
        own_columns = self.child_columns_[name] + ([seq.GAP] if scale is not None else [])
        recent: list[dict[str, np.ndarray]] = []  # recent[k - 1][column]: value k children back, per parent
        averaged = [c for c in own_columns if seq.MEAN_PREFIX + c in learned]
        sums = {c: np.zeros(len(derived)) for c in averaged}
        counts = {c: np.zeros(len(derived)) for c in averaged}
        elapsed = np.zeros(len(derived))
        parts = []
        for position in range(int(lengths.max(initial=0))):
            active = np.flatnonzero(lengths > position)
            given = context.iloc[active].reset_index(drop=True)
            if seq.POSITION in learned:
                given[seq.POSITION] = position
            if scale is not None and seq.ELAPSED in learned:
                given[seq.ELAPSED] = elapsed[active]
            for k in range(1, history + 1):
                for column in own_columns:
                    lagged = seq.lag_name(k, column)
                    if lagged in learned:
                        values = recent[k - 1][column][active] if k <= len(recent) else None
                        given[lagged] = _typed(values, len(active), model.metadata_[lagged])
            for column in averaged:
                with np.errstate(invalid="ignore", divide="ignore"):
                    mean = sums[column][active] / counts[column][active]
                given[seq.MEAN_PREFIX + column] = np.where(counts[column][active] > 0, mean, np.nan)
            rows = model.sample_given(given, random_state=_seed(rng))
            own = rows[[c for c in own_columns if c in rows.columns]].copy()
            if scale is not None:
                gap = np.asarray(own[seq.GAP], dtype=np.float64).clip(min=0) if position > 0 else np.zeros(len(own))
                own[seq.GAP] = gap.astype(np.int64) if model.metadata_[seq.GAP].is_integer else gap
                elapsed[active] += gap
                own["__elapsed_now__"] = elapsed[active]
            for column in averaged:
                if seq.counts_in_mean(column, position):
                    values = pd.to_numeric(own[column], errors="coerce").to_numpy(dtype=np.float64)
                    present = ~np.isnan(values)
                    sums[column][active] += np.where(present, values, 0.0)
                    counts[column][active] += present
            own["__row__"] = active
            parts.append(own)
            latest = {column: np.empty(len(derived), dtype=object) for column in own_columns}
            for column in own_columns:
                latest[column][active] = own[column].to_numpy(dtype=object)
            recent = [latest] + recent[: history - 1]
        return self._assemble(name, parts, derived, keys)

    def _assemble(self, name: str, parts: list[pd.DataFrame], derived: pd.DataFrame, keys: np.ndarray
                  ) -> pd.DataFrame:
        """Steps -> the child table: grouped by parent, in order, with keys and order values."""
        scale, columns = self.scales_[name], self.table_columns_[name]
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        steps = pd.concat(parts, ignore_index=True)
        steps["__step__"] = np.arange(len(steps))
        steps = steps.sort_values(["__row__", "__step__"], kind="stable").reset_index(drop=True)
        rows = steps["__row__"].to_numpy()
        table = pd.DataFrame({self.key: keys[rows]})
        if scale is not None:
            starts = scale.to_numbers(derived[seq.START_PREFIX + name].iloc[rows].reset_index(drop=True))
            values = scale.from_numbers(starts + steps["__elapsed_now__"].to_numpy())
            table[scale.column] = _restore_order(values, self.order_metadata_[name])
        for column in self.child_columns_[name]:
            table[column] = steps[column].to_numpy()
        return table[columns]

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to directory ``path``: one tabsynth model directory (see
        :mod:`tabsynth.persistence`) whose files hold each inner model's part, keyed by
        ``parent`` and ``child.<table>``. Atomic; tensors only.

        Raises
        ------
        NotFittedError
        FileExistsError
            If ``path`` is a file or a folder tabsynth did not write.
        """
        self._check_fitted()
        parts = {"parent": self.parent_model_, **{f"child.{n}": m for n, m in self.child_models_.items()}}
        config = {"tabsynth_version": __version__, "model": self.name, "model_format": self.model_format,
                  "params": {k: json_param(v) for k, v in self.get_params().items()}, "seed": self.seed_,
                  "schema": self._schema_state(), "rng": self._rng.bit_generator.state, "parts": {}}
        documents = {"metadata.json": {}, "encoder.json": {}}
        tensors: dict[str, torch.Tensor] = {}
        for part, model in parts.items():
            part_config, part_documents, part_tensors = model._saved_parts()
            config["parts"][part] = part_config
            for file in documents:
                documents[file][part] = part_documents[file]
            tensors.update({f"{part}/{k}": v for k, v in part_tensors.items()})
        if self.privacy_ is not None:  # the whole ledger; each mechanism names its part
            documents["privacy.json"] = self.privacy_
        write_model_directory(path, config, documents, tensors)

    def _schema_state(self) -> dict:
        return {"tables": self.tables_, "parent_columns": self.parent_columns_,
                "table_columns": self.table_columns_, "child_columns": self.child_columns_,
                "scales": {n: None if s is None else s.to_dict() for n, s in self.scales_.items()},
                "order_metadata": {n: Metadata([m]).to_dict() for n, m in self.order_metadata_.items()},
                "key_dtype": self.key_dtype_, "key_start": self.key_start_, "key_prefix": self.key_prefix_,
                "parents_derived": self.parents_derived_,
                "parent_table": self.parent_table_, "running_mean": self.running_mean_,
                "layouts": self.layouts_, "widths": self.widths_, "never_null": self.never_null_,
                "history": self.history_}

    @classmethod
    def _from_saved(cls, saved: SavedModel, device: torch.device) -> "ParentChild":
        """Rebuild from a read model directory (see :meth:`save`).

        Raises
        ------
        ValueError
            If the directory was written in another format.
        """
        config = saved.config
        if config.get("model_format") not in cls.readable_formats:
            raise ValueError(f"'{saved.path}' was saved by tabsynth {config.get('tabsynth_version', '?')} in "
                             f"parent-child format {config.get('model_format')!r}; this tabsynth ({__version__}) "
                             f"reads formats {list(cls.readable_formats)}. Re-fit the model with this version.")
        model = cls(**config["params"])
        model.seed_, model.device_ = config["seed"], device
        schema = config["schema"]
        model.tables_, model.parent_columns_ = schema["tables"], schema["parent_columns"]
        model.table_columns_, model.child_columns_ = schema["table_columns"], schema["child_columns"]
        model.scales_ = {n: None if s is None else seq.OrderScale(**s) for n, s in schema["scales"].items()}
        model.order_metadata_ = {n: next(iter(Metadata.from_dict(m))) for n, m in schema["order_metadata"].items()}
        model.key_dtype_, model.key_start_ = schema["key_dtype"], schema["key_start"]
        model.key_prefix_, model.parents_derived_ = schema["key_prefix"], schema["parents_derived"]
        model.parent_table_ = schema["parent_table"]
        inner = {}
        for part, part_config in config["parts"].items():
            documents = {file: saved.documents[file][part] for file in ("metadata.json", "encoder.json")}
            tensors = {k[len(part) + 1:]: v for k, v in saved.tensors.items() if k.startswith(part + "/")}
            inner[part] = Autoregressive._from_saved(SavedModel(saved.path, part_config, documents, tensors), device)
        model.privacy_ = saved.documents.get("privacy.json")
        model.parent_model_ = inner.pop("parent")
        model.child_models_ = {part[len("child."):]: m for part, m in inner.items()}
        # Models saved before the option: what each child model learned tells.
        model.running_mean_ = schema.get("running_mean") or {
            name: any(c.startswith(seq.MEAN_PREFIX) for c in m.encoder_.columns_)
            for name, m in model.child_models_.items()}
        # Models saved before the wide layout learned every table as a sequence.
        model.layouts_ = schema.get("layouts") or {name: "sequence" for name in model.tables_}
        model.widths_ = schema.get("widths") or {}
        model.never_null_ = schema.get("never_null") or {}
        # Models saved before "auto" saw the one ``history`` they were given.
        model.history_ = schema.get("history") or {
            name: 1 if model.history == "auto" else model.history for name in model.child_models_}
        model._rng = np.random.default_rng()
        model._rng.bit_generator.state = config["rng"]
        return model


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _typed(values: np.ndarray | None, n: int, meta: ColumnMetadata) -> pd.Series:
    """A lag column for ``sample_given``: the generated values (or nulls before the sequence
    starts) in the kind the child model learned them as."""
    series = pd.Series([None] * n if values is None else values, dtype=object)
    if meta.kind == "numerical":
        return pd.to_numeric(series, errors="coerce")
    if meta.kind == "datetime":
        return pd.to_datetime(series, errors="coerce")
    return series


def _restore_order(values: pd.Series, meta: ColumnMetadata) -> pd.Series:
    """Generated order values in the input column's dtype (strings written back in their format)."""
    if meta.kind == "datetime" and meta.datetime_format:
        return values.dt.strftime(meta.datetime_format)
    return restore_dtype(values, meta)
