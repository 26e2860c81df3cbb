"""Detection (classifier two-sample test, C2ST): can a model tell real rows from synthetic ones?

A gradient-boosted tree classifier is trained to label rows as real (0) or synthetic
(1) on a balanced, seeded sample of both tables; its cross-validated ROC AUC is the
score. An AUC of 0.5 means the classifier cannot tell the tables apart; 1.0 means every
synthetic row is recognisable. The columns whose permutation hurts the classifier most
are the ones that give the synthetic rows away.

References
----------
Lopez-Paz, D. and Oquab, M. (2017). "Revisiting Classifier Two-Sample Tests". ICLR.
Breiman, L. (2001). "Random Forests", Machine Learning 45 — permutation importance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import permutation_importance
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from tabsynth.evaluation.tables import EvaluationTables

FOLDS = 5
TOP_FEATURES = 5
PERMUTATION_REPEATS = 3
# Trees treat a column as categorical only up to this many levels (scikit-learn's limit
# is 255 bins); a wider categorical column is passed as its ordinal code instead.
MAX_NATIVE_LEVELS = 250
# OpenMP threads for the trees. One thread: on a shared 2-core machine, several OpenMP
# threads spin-wait against other processes (credit: 12 s with 1 thread, 240 s with 2 under load).
THREADS = 1
_CLASSIFIER = dict(max_iter=200, learning_rate=0.1, max_leaf_nodes=31, early_stopping=True,
                   validation_fraction=0.1, n_iter_no_change=10)


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
        ``{"auc": float, "auc_std": float, "folds": int, "rows_per_table": int,
        "top_features": [{"column": str, "importance": float}]}`` — AUC mean and
        standard deviation over 5 stratified folds; importance is the mean drop in ROC
        AUC when the column is shuffled in the first held-out fold (3 repeats), largest
        first (at most 5 columns, only those with a positive drop).

    Raises
    ------
    ValueError
        When fewer than 5 rows per table can be drawn (``max_rows`` or a table too small).
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
    with threadpool_limits(limits=THREADS, user_api="openmp"):
        aucs, importances = _cross_validate(X, y, categorical, random_state)
    return {"auc": float(np.mean(aucs)), "auc_std": float(np.std(aucs)), "folds": FOLDS,
            "rows_per_table": int(len(real)), "top_features": top_features(tables.columns, importances)}


def _cross_validate(X: np.ndarray, y: np.ndarray, categorical: np.ndarray,
                    random_state: int) -> tuple[list[float], np.ndarray]:
    """ROC AUC per stratified fold, and permutation importances on the first held-out fold."""
    aucs, importances = [], None
    splits = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=random_state).split(X, y)
    for fold, (train, test) in enumerate(splits):
        model = HistGradientBoostingClassifier(categorical_features=categorical, random_state=random_state,
                                               **_CLASSIFIER)
        model.fit(X[train], y[train])
        aucs.append(roc_auc_score(y[test], model.predict_proba(X[test])[:, 1]))
        if fold == 0:
            importances = permutation_importance(model, X[test], y[test], scoring="roc_auc",
                                                 n_repeats=PERMUTATION_REPEATS,
                                                 random_state=random_state).importances_mean
    return aucs, importances


def top_features(columns: list[str], importances: np.ndarray, k: int = TOP_FEATURES) -> list[dict]:
    """The ``k`` columns with the largest positive importance, largest first."""
    order = np.argsort(-importances, kind="stable")[:k]
    return [{"column": columns[i], "importance": float(importances[i])} for i in order if importances[i] > 0]
