"""The continuous view (:class:`~tabsynth.encoding.TableEncoder`) built from DP-released statistics only.

CTGAN's and TVAE's mode-specific normalization fits a Gaussian mixture to every numerical
column: a non-private estimator of exact values. In DP mode the modes come from the same
mechanisms as the discrete view's (:func:`~tabsynth.privacy.token_release.release_token_table`:
partition selection for category sets, point masses and the value range on a public grid,
a noisy histogram for the quantile bins), so the two views cost the same budget:

* each released point mass (a value held by at least ``1 / n_bins`` of the rows) is a mode
  of zero width: it decodes to exactly that value;
* each equal-frequency bin ``[a, b]`` of the DP CDF is a mode centred at ``(a + b) / 2``
  whose ``(-1, 1)`` window spans the bin (``4 sigma = (b - a) / 2 / 0.99``); values outside
  the released range are encoded at the nearest bin's edge (clipped), as DP bounds require;
* mode weights, which pick a mode when windows overlap, are the released noisy counts;
* categorical columns: the released category set; a text column also gets the rare token
  (``_RARE_``) for values outside it, other columns map them to the most frequent released
  category (as the discrete view does).

No statistic here reads the training rows: everything is post-processing of released
values (and of the public schema).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from tabsynth.encoding.table import TableEncoder
from tabsynth.encoding.tokens import PROTECTED_CATEGORY
from tabsynth.metadata import Metadata
from tabsynth.privacy.accounting import PrivacyLedger
from tabsynth.privacy.token_release import release_token_table

# Normalisation window of a mode, as in NumericalEncoder: (-0.99, 0.99) x 4 sigma.
_WINDOW = 4.0 * 0.99
# Relative half-width of a point mass's window (decodes to the value within this).
_POINT_WIDTH = 1e-9


@dataclasses.dataclass
class ContinuousRelease:
    """What :func:`release_table_encoder` returns.

    Attributes
    ----------
    metadata : Metadata
        The public schema with the released categories (text columns: plus ``_RARE_``) and bounds.
    encoder : TableEncoder
        Ready to transform; never fitted on raw values.
    category_counts : dict
        Noisy count of every slot of every categorical column's span, by column name
        (``(slots,)`` float64, null slot last when nullable): CTGAN's conditional vector
        draws from these instead of exact frequencies.
    notes : list of str
        As :class:`~tabsynth.privacy.token_release.TokenRelease`.
    """

    metadata: Metadata
    encoder: TableEncoder
    category_counts: dict
    notes: list[str]


def release_table_encoder(frame: pd.DataFrame, schema: Metadata, ledger: PrivacyLedger, rng: np.random.Generator,
                          *, n_bins: int = 10, clip_quantile: float = 0.001) -> ContinuousRelease:
    """Run the preprocessing mechanisms on ``frame`` and build the continuous view from their output.

    Parameters
    ----------
    frame : DataFrame
        The training table.
    schema : Metadata
        From :func:`~tabsynth.privacy.schema.public_schema`.
    ledger : PrivacyLedger
        Every mechanism is recorded here.
    rng : numpy.random.Generator
        The noise source.
    n_bins : int, default 10
        Equal-frequency bins (modes) per numerical column, besides its point masses
        (CTGAN's ``max_modes`` is 10).
    clip_quantile : float, default 0.001
        Values below / above these DP quantiles are clipped.

    Returns
    -------
    ContinuousRelease

    Raises
    ------
    ValueError
        As :func:`~tabsynth.privacy.token_release.release_token_table`.
    """
    release = release_token_table(frame, schema, ledger, rng, n_bins=n_bins, clip_quantile=clip_quantile)
    counts = iter(release.token_counts)
    columns, states, category_counts = [], {}, {}
    for meta in release.metadata:
        state = release.column_states[meta.name]
        if meta.kind == "categorical":
            meta, states[meta.name], category_counts[meta.name] = _categorical(meta, state, next(counts))
        elif meta.kind in ("numerical", "datetime"):
            states[meta.name] = _modes(state, next(counts))
        else:  # id, key, constant: the released (or public) facts as they are
            states[meta.name] = {k: v for k, v in state.items() if k in ("first_key", "rows_per_key", "key_share")}
        columns.append(meta)
    metadata = Metadata(columns)
    return ContinuousRelease(metadata, TableEncoder.from_column_states(metadata, states), category_counts,
                             release.notes)


def _categorical(meta, state: dict, token_counts: np.ndarray):
    """Slots: the released categories, then the rare token for text columns, then null."""
    values = [v for v in state["token_value"] if v is not None]
    counts = np.asarray(token_counts, dtype=float)
    protected = state.get("protected_token")
    if protected is not None and values[protected] == PROTECTED_CATEGORY:
        categories, unknown = values, protected  # the rare token is a slot of its own
    else:  # numbers / booleans: unreleased values count as the most frequent release
        categories = list(meta.categories)
        unknown = 0 if protected is not None else None
        if protected is not None and len(values) > len(categories):  # the other token's count joins slot 0
            counts = np.concatenate([[counts[0] + counts[len(categories)]], counts[1 : len(categories)],
                                     counts[len(categories) + 1 :]])
    meta = dataclasses.replace(meta, categories=categories)
    return meta, ({} if unknown is None else {"unknown_slot": unknown}), np.maximum(counts, 0.0)


def _modes(state: dict, token_counts: np.ndarray) -> dict:
    """Point masses and bins -> NumericalEncoder state (means, stds, weights)."""
    points = np.asarray(state["points"], dtype=float)
    knots = np.asarray(state["knots"], dtype=float)  # (bins, knots per bin): each bin's DP quantiles
    knots = knots[:, [0, -1]] if len(knots) else np.zeros((0, 2))
    centres = (knots[:, 0] + knots[:, 1]) / 2
    means = np.concatenate([points, centres])
    floor = _POINT_WIDTH * np.maximum(1.0, np.abs(means)) / _WINDOW
    stds = np.maximum(np.concatenate([np.zeros(len(points)), (knots[:, 1] - knots[:, 0]) / 2 / _WINDOW]), floor)
    weights = np.maximum(np.asarray(token_counts, dtype=float)[: len(means)], 1e-3)
    out = {"means": means.tolist(), "stds": stds.tolist(), "weights": (weights / weights.sum()).tolist()}
    if "resolution_seconds" in state:
        out["resolution_seconds"] = state["resolution_seconds"]
    return out
