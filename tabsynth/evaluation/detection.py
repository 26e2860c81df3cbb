"""Detection (classifier two-sample test, C2ST): can a model tell real rows from synthetic ones?

A gradient-boosted tree classifier is trained to label rows as real (0) or synthetic
(1) on a balanced, seeded sample of both tables; its cross-validated ROC AUC is the
score. An AUC of 0.5 means the classifier cannot tell the tables apart; 1.0 means every
synthetic row is recognisable. The columns whose permutation hurts the classifier most
are the ones that give the synthetic rows away.

Rows repeat in real tables (CDNOW holds many one-CD purchases of $11.77 on the same
day), and a synthetic row may equal a real one. With plain stratified folds, the copies
of a held-out row sit in the training folds, more often with the opposite label (the
held-out copy is missing from its own class there), and the AUC of an exact copy falls
below 0.5 (0.452 on the first 20,000 CDNOW rows). So the folds are grouped: every
distinct feature vector, over both tables, is one group
(:func:`identical_row_groups`), and :class:`~sklearn.model_selection.StratifiedGroupKFold`
keeps a group in one fold.

References
----------
Lopez-Paz, D. and Oquab, M. (2017). "Revisiting Classifier Two-Sample Tests". ICLR.
Nadeau, C. and Bengio, Y. (2003). "Inference for the Generalization Error", Machine
Learning 52 — the corrected resampled t interval of the cross-validated AUC.
Breiman, L. (2001). "Random Forests", Machine Learning 45 — permutation importance.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import t as student_t
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import permutation_importance
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from threadpoolctl import threadpool_limits

from tabsynth.evaluation.boosting import VALIDATION_FRACTION, early_stopping_blocker
from tabsynth.evaluation.tables import EvaluationTables

FOLDS = 5
CONFIDENCE = 0.95
TOP_FEATURES = 5
PERMUTATION_REPEATS = 3
# Trees treat a column as categorical only up to this many levels (scikit-learn's limit
# is 255 bins); a wider categorical column is passed as its ordinal code instead.
MAX_NATIVE_LEVELS = 250
# OpenMP threads for the trees. One thread: on a shared 2-core machine, several OpenMP
# threads spin-wait against other processes (credit: 12 s with 1 thread, 240 s with 2 under load).
THREADS = 1
# Groups with the same rows per class (say one real and one synthetic row) are bundled into
# groups of about this many rows before StratifiedGroupKFold deals groups to folds: it loops
# over groups in Python (2.8 s for 20,000 single-row groups). A bundle never splits a group.
BUNDLE_ROWS = 10
_CLASSIFIER = dict(max_iter=200, learning_rate=0.1, max_leaf_nodes=31,
                   validation_fraction=VALIDATION_FRACTION, n_iter_no_change=10)
INTERVAL = (f"{CONFIDENCE:.0%} corrected resampled t interval over the {FOLDS} grouped folds (Nadeau & Bengio, "
            f"2003): mean fold AUC +- t(0.975, {FOLDS - 1}) * sd * sqrt(1/{FOLDS} + n_test/n_train), clipped to [0, 1]")


def detection_features(tables: EvaluationTables, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Numeric matrix and categorical mask for the detection classifier.

    Parameters
    ----------
    tables : EvaluationTables
        Supplies the real table's category levels (via :meth:`EvaluationTables.model_features`).
    frame : DataFrame, shape (n, len(tables.columns))
        Rows of the real or synthetic table.

    Returns
    -------
    X : ndarray of float64, shape (n, len(tables.columns))
        Numbers as they are (datetimes in seconds); categories as their code among the
        real table's levels; missing and unseen values as NaN.
    categorical : ndarray of bool, shape (len(tables.columns),)
        True for the categorical columns the trees split on natively.
    """
    features = tables.model_features(frame)
    columns, mask = [], []
    for column in features.columns:
        values = features[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            codes = values.cat.codes.to_numpy().astype(float)
            columns.append(np.where(codes < 0, np.nan, codes))
            mask.append(len(values.cat.categories) <= MAX_NATIVE_LEVELS)
        else:
            columns.append(values.to_numpy(dtype=float))
            mask.append(False)
    return np.column_stack(columns), np.array(mask, dtype=bool)


def balanced_sample(real: pd.DataFrame, synthetic: pd.DataFrame, max_rows: int,
                    rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Equal-size seeded samples of both tables: ``min(len(real), len(synthetic), max_rows // 2)`` rows each."""
    n = min(len(real), len(synthetic), max_rows // 2)
    pick = lambda frame: frame.iloc[np.sort(rng.choice(len(frame), size=n, replace=False))]  # noqa: E731
    return pick(real), pick(synthetic)


def detection(tables: EvaluationTables, real: pd.DataFrame, synthetic: pd.DataFrame, *, max_rows: int,
              random_state: int = 0) -> dict:
    """Cross-validated ROC AUC of a classifier separating real from synthetic rows.

    Parameters
    ----------
    tables : EvaluationTables
        Column kinds and category levels.
    real, synthetic : DataFrame
        Rows of the two tables (columns ``tables.columns``).
    max_rows : int
        At most ``max_rows // 2`` rows are drawn from each table (seeded, without
        replacement), so the two classes are balanced.
    random_state : int, default 0

    Returns
    -------
    dict
        ``{"auc": float, "auc_std": float, "auc_ci": [float, float], "fold_aucs": [float],
        "interval": str, "folds": int, "rows_per_table": int, "distinct_rows": int,
        "repeated_rows": int, "early_stopping": bool, "top_features": [{"column": str,
        "importance": float}]}`` — AUC mean and standard deviation (ddof=0) over 5
        stratified folds that keep identical feature vectors together
        (:func:`grouped_folds`); ``auc_ci`` is the interval ``interval`` describes
        (:func:`auc_interval`); ``distinct_rows`` counts the distinct feature vectors of
        both samples and ``repeated_rows`` the rows sharing theirs with another row;
        ``early_stopping`` is False when a training fold was too small for the trees'
        validation split. Importance is the mean drop in ROC AUC when the column is
        shuffled in the first held-out fold (3 repeats), largest first (at most 5
        columns, only those with a positive drop).

    Raises
    ------
    ValueError
        When fewer than 5 rows per table can be drawn (``max_rows`` or a table too small),
        when both samples hold fewer than 5 distinct rows, or when a held-out fold holds
        rows of one table only (a few rows repeated many times).
    """
    rng = np.random.default_rng(random_state)
    real, synthetic = balanced_sample(real, synthetic, max_rows, rng)
    if len(real) < FOLDS:
        raise ValueError(
            f"Detection needs at least {FOLDS} rows per table but only {len(real)} can be drawn; "
            f"use larger tables or max_rows >= {2 * FOLDS}."
        )
    x_real, categorical = detection_features(tables, real)
    x_synth, _ = detection_features(tables, synthetic)
    X = np.vstack([x_real, x_synth])
    y = np.r_[np.zeros(len(x_real)), np.ones(len(x_synth))]
    groups = identical_row_groups(X)
    folds = grouped_folds(y, groups, random_state)
    with threadpool_limits(limits=THREADS, user_api="openmp"):
        aucs, importances, early = _cross_validate(X, y, folds, categorical, random_state)
    ratio = float(np.mean([len(test) / len(train) for train, test in folds]))
    low, high = auc_interval(aucs, ratio)
    sizes = np.bincount(groups)
    return {"auc": float(np.mean(aucs)), "auc_std": float(np.std(aucs)), "auc_ci": [low, high],
            "fold_aucs": [float(a) for a in aucs], "interval": INTERVAL, "folds": FOLDS,
            "rows_per_table": int(len(real)), "distinct_rows": int(len(sizes)),
            "repeated_rows": int((sizes[groups] > 1).sum()), "early_stopping": early,
            "top_features": top_features(tables.columns, importances)}


def identical_row_groups(X: np.ndarray) -> np.ndarray:
    """One group id per distinct row of ``X``.

    Parameters
    ----------
    X : ndarray of float64, shape (n, d)
        Rows of both tables, as the classifier sees them (:func:`detection_features`).

    Returns
    -------
    ndarray of int64, shape (n,)
        Ids ``0 .. n_distinct - 1`` in order of first appearance; equal rows get equal
        ids, NaN equal to NaN and -0.0 equal to 0.0.
    """
    frame = pd.DataFrame(X + 0.0)  # + 0.0 turns -0.0 into 0.0
    return frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup().to_numpy(dtype=np.int64)


def grouped_folds(y: np.ndarray, groups: np.ndarray, random_state: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``FOLDS`` (train, test) index pairs, stratified by ``y``, each group in one test fold.

    :class:`~sklearn.model_selection.StratifiedGroupKFold` (shuffled, seeded) deals the
    groups to folds, after :func:`_bundles` has joined groups of equal class make-up,
    which only speeds the dealing up.

    Parameters
    ----------
    y : ndarray of float64, shape (n,)
        0 for a real row, 1 for a synthetic one.
    groups : ndarray of int64, shape (n,)
        :func:`identical_row_groups` of the rows.
    random_state : int

    Returns
    -------
    list of (ndarray of int64, ndarray of int64)
        ``FOLDS`` pairs of training and held-out row positions.

    Raises
    ------
    ValueError
        When there are fewer than ``FOLDS`` distinct groups, or a held-out fold holds
        rows of one class only (the message says why and what to do).
    """
    _, groups = np.unique(groups, return_inverse=True)  # ids 0 .. n_distinct - 1, every one used
    n_distinct = int(groups.max()) + 1
    if n_distinct < FOLDS:
        raise ValueError(
            f"Detection needs at least {FOLDS} distinct rows over both tables to form {FOLDS} folds that keep "
            f"identical rows together, but the sampled rows hold only {n_distinct}; compare more varied tables."
        )
    bundles = _bundles(y, groups, np.random.default_rng(random_state))
    splitter = StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=random_state)
    folds = list(splitter.split(np.zeros((len(y), 1)), y, bundles[groups]))
    for fold, (_, test) in enumerate(folds):
        if len(np.unique(y[test])) < 2:
            which = "real" if y[test][0] == 0 else "synthetic"
            raise ValueError(
                f"Detection AUC is undefined: held-out fold {fold + 1} of {FOLDS} holds only {which} rows, because "
                f"the sampled rows form only {n_distinct} distinct rows, some repeated many times; "
                f"compare more varied tables."
            )
    return folds


def _bundles(y: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bundle id per group: seeded bundles of groups that hold the same number of rows of each class.

    Groups of equal make-up are interchangeable for stratification, so joining them keeps
    the folds as balanced while cutting the groups StratifiedGroupKFold loops over. A
    bundle holds about :data:`BUNDLE_ROWS` rows, and each make-up keeps at least
    ``4 * FOLDS`` bundles (or all its groups) so that small tables still fill every fold.
    """
    per_class = np.stack([np.bincount(groups[y == label], minlength=groups.max() + 1) for label in np.unique(y)])
    _, make_up = np.unique(per_class.T, axis=0, return_inverse=True)
    out, next_id = np.empty(per_class.shape[1], dtype=np.int64), 0
    for kind in np.unique(make_up):
        members = rng.permutation(np.flatnonzero(make_up == kind))
        rows = int(per_class[:, members[0]].sum())
        per_bundle = max(1, min(BUNDLE_ROWS // rows, len(members) // (4 * FOLDS)))
        out[members] = next_id + np.arange(len(members)) // per_bundle
        next_id = int(out[members].max()) + 1
    return out


def auc_interval(aucs: list[float], test_train_ratio: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Corrected resampled t interval of the mean of ``k`` fold AUCs (Nadeau & Bengio, 2003).

    ``mean +- t(1 - (1 - confidence) / 2, k - 1) * sd * sqrt(1 / k + test_train_ratio)``
    with ``sd`` the standard deviation (ddof=1) of the fold AUCs. The ``test_train_ratio``
    term widens the naive ``sd / sqrt(k)`` for the overlap of the training folds, which
    makes the fold AUCs positively correlated. Clipped to [0, 1].

    Parameters
    ----------
    aucs : list of float
        ROC AUC of each of ``k >= 2`` folds.
    test_train_ratio : float
        Held-out rows over training rows per fold (``1 / (k - 1)`` for equal folds).
    confidence : float, default 0.95
    """
    k, mean = len(aucs), float(np.mean(aucs))
    half = student_t.ppf(0.5 + confidence / 2, k - 1) * np.std(aucs, ddof=1) * math.sqrt(1 / k + test_train_ratio)
    return float(max(mean - half, 0.0)), float(min(mean + half, 1.0))


def _cross_validate(X: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]],
                    categorical: np.ndarray, random_state: int) -> tuple[list[float], np.ndarray, bool]:
    """ROC AUC per fold, permutation importances on the first held-out fold, and whether every fold early-stopped."""
    aucs, importances, early = [], None, True
    for fold, (train, test) in enumerate(folds):
        stop = early_stopping_blocker(y[train]) is None
        early = early and stop
        model = HistGradientBoostingClassifier(categorical_features=categorical, random_state=random_state,
                                               early_stopping=stop, **_CLASSIFIER)
        model.fit(X[train], y[train])
        aucs.append(roc_auc_score(y[test], model.predict_proba(X[test])[:, 1]))
        if fold == 0:
            importances = permutation_importance(model, X[test], y[test], scoring="roc_auc",
                                                 n_repeats=PERMUTATION_REPEATS,
                                                 random_state=random_state).importances_mean
    return aucs, importances, early


def top_features(columns: list[str], importances: np.ndarray, k: int = TOP_FEATURES) -> list[dict]:
    """The ``k`` columns with the largest positive importance, largest first."""
    order = np.argsort(-importances, kind="stable")[:k]
    return [{"column": columns[i], "importance": float(importances[i])} for i in order if importances[i] > 0]
