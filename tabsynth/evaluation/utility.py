"""Machine-learning utility: train on synthetic, test on real (TSTR) beside train on real, test on real (TRTR).

Esteban, Hyland, Rätsch (2017), "Real-valued (Medical) Time Series Generation with
Recurrent Conditional GANs", section 3.2, proposed TSTR: a model fitted on the
synthetic table and scored on real rows the generator never saw (the holdout) shows
whether the synthetic table can stand in for the real one when training models. We
put it beside TRTR (the same model fitted on the real training table, scored on the
same holdout), as in Xu et al. (2019), "Modeling Tabular Data using Conditional GAN",
section 5.1, so the figures read as "how much of the real table's predictive value
survives".

Two scikit-learn model families are fitted to each training table:

* ``linear`` — :class:`~sklearn.linear_model.LogisticRegression` (classification) or
  :class:`~sklearn.linear_model.Ridge` (regression) after median imputation with
  missing-value indicators and standard scaling of numbers, and a one-hot encoding of
  categories (a missing category is its own level);
* ``boosting`` — :class:`~sklearn.ensemble.HistGradientBoostingClassifier` /
  ``Regressor`` with native categorical splits (:meth:`EvaluationTables.model_features`).

Beyond the scores, two figures follow Jordon et al. (2022), "Synthetic Data — what,
why and how?", section 4.2: whether the families rank the same when trained on
synthetic as on real data (``rank_agreement``), and whether the boosting models lean on
the same features (Spearman correlation of permutation importances, Breiman (2001),
"Random Forests", section 10, as implemented by
:func:`sklearn.inspection.permutation_importance`).

Speed: each training table and the holdout are seeded subsamples of at most
``max_rows`` rows; permutation importances use at most :data:`IMPORTANCE_ROWS` holdout
rows and :data:`IMPORTANCE_REPEATS` shuffles per feature.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, r2_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from tabsynth.evaluation.boosting import early_stopping_blocker
from tabsynth.evaluation.metrics import Metric
from tabsynth.evaluation.report import Section
from tabsynth.evaluation.tables import EvaluationTables

FAMILIES = ("linear", "boosting")
CLASSIFICATION_METRICS = ("auc", "accuracy", "f1")
REGRESSION_METRICS = ("r2", "rmse", "mae")
PRIMARY = {"classification": "auc", "regression": "r2"}
# Verdict on utility.tstr_trtr_ratio (boosting family, primary metric): >= GOOD is "good",
# >= FAIR is "fair", anything lower -- or no ratio at all -- is "poor".
GOOD_RATIO = 0.95
FAIR_RATIO = 0.85
# A ratio above this is flagged in a note: synthetic data rarely beats the real table it imitates
# unless it leaked holdout rows.
SUSPICIOUS_RATIO = 1.05
IMPORTANCE_REPEATS = 3
IMPORTANCE_ROWS = 5_000  # for a binary or regression target; divided by (classes - 1) for multiclass
MIN_IMPORTANCE_ROWS = 500
# Threads for OpenMP (the trees) and BLAS. One: on a shared 2-core machine, several threads
# spin-wait against other processes (credit, 4,000 rows: 9.7 s with 1 thread, 137 s with 2 under load).
THREADS = 1
# HistGradientBoosting splits natively on at most this many categories (its max_bins).
MAX_NATIVE_LEVELS = 255
LINEAR_MAX_ITER = 500
BOOSTING_MAX_ITER = 100  # scikit-learn's default; all of them run when early stopping is off
MISSING_LEVEL = "(missing)"

_LABELS = {"auc": "ROC AUC", "accuracy": "accuracy", "f1": "F1", "r2": "R²", "rmse": "RMSE", "mae": "MAE"}
_FAMILY_LABELS = {"linear": "linear model", "boosting": "gradient boosting"}
_MEANINGS = {
    "auc": "how well a {family} trained on {train} data ranks the real holdout's rows by class (1 is perfect, 0.5 is guessing)",
    "accuracy": "the share of real holdout rows whose class a {family} trained on {train} data predicts correctly",
    "f1": "how well a {family} trained on {train} data finds the {positive} in the real holdout (1 is perfect)",
    "r2": "the share of the target's variation in the real holdout that a {family} trained on {train} data explains (1 is perfect, 0 is no better than the mean)",
    "rmse": "the typical error, in the target's units, of a {family} trained on {train} data when predicting the real holdout (large errors weigh more)",
    "mae": "the average absolute error, in the target's units, of a {family} trained on {train} data when predicting the real holdout",
}


@dataclass
class _Task:
    """What is predicted: the target, the feature columns and, for classification, the classes."""

    kind: str  # "classification" or "regression"
    target: str
    features: list[str]
    classes: list[str] = field(default_factory=list)  # str labels, sorted
    positive: str | None = None  # binary only
    originals: dict[str, Any] = field(default_factory=dict)  # str label -> value as in the table
    synthetic_only: dict[str, Any] = field(default_factory=dict)  # the same for classes only synthetic rows hold

    @property
    def metrics(self) -> tuple[str, ...]:
        return CLASSIFICATION_METRICS if self.kind == "classification" else REGRESSION_METRICS

    @property
    def primary(self) -> str:
        return PRIMARY[self.kind]


@dataclass
class _Fit:
    """One fitted family: the model (None when it could not be trained), why not, and how it was adapted."""

    model: Any
    note: str | None = None  # why there is no model
    caveat: str | None = None  # how the model was fitted differently from the usual way


# ---------------------------------------------------------------------------- entry point
def utility_section(tables: EvaluationTables, *, max_rows: int, random_state: int) -> Section:
    """TSTR and TRTR scores of a linear and a gradient-boosting model, and how they compare.

    Parameters
    ----------
    tables : EvaluationTables
        Needs ``tables.target`` and ``tables.holdout``; without either the section is
        skipped with a reason saying how to provide it.
    max_rows : int
        Each of the real, synthetic and holdout tables is a seeded subsample of at most
        this many rows (the same row positions for tables of the same length).
    random_state : int
        Seeds the subsamples, the boosting models and the permutation importances.

    Returns
    -------
    Section
        ``"utility"`` with metrics ``utility.{tstr,trtr}_{linear,boosting}_{metric}``
        (metric in auc/accuracy/f1 or r2/rmse/mae), ``utility.tstr_trtr_ratio``,
        ``utility.rank_agreement`` and ``utility.importance_correlation``; details
        ``task``, ``target``, ``positive_class`` (classification), ``families``,
        ``importances``, ``thresholds`` and ``verdict``.

    Raises
    ------
    ValueError
        When the target is a datetime column (neither a class nor a plain number to
        predict), or ``max_rows`` is below 2.
    """
    reason = _skip_reason(tables)
    if reason is not None:
        return Section("utility", skipped_reason=reason)
    if max_rows < 2:
        raise ValueError(f"max_rows must be at least 2 to train and score a model; got {max_rows}.")
    task = _task(tables)
    frames = {name: _rows(getattr(tables, name), task.target, max_rows, random_state)
              for name in ("real", "synthetic", "holdout")}
    reason = _data_reason(task, frames)
    if reason is not None:
        return Section("utility", skipped_reason=reason)
    tests = {"linear": _linear_frame(tables, frames["holdout"], task.features),
             "boosting": _boosting_matrix(tables, frames["holdout"], task.features)}
    y_test = _labels(task, frames["holdout"])
    with threadpool_limits(limits=THREADS):
        families, importances = _run(task, tables, frames, tests, y_test, random_state)
    metrics = _metrics(task, families, importances)
    ratio = next(m for m in metrics if m.key == "utility.tstr_trtr_ratio").value
    notes = class_notes(task, frames) + [families[f][m]["caveat"] for m in ("tstr", "trtr") for f in FAMILIES
                                         if families[f][m]["caveat"]]
    details = {
        "task": task.kind, "target": task.target,
        # The class F1 is computed for: None for a multiclass target (macro F1).
        **({"positive_class": task.originals.get(task.positive)} if task.kind == "classification" else {}),
        "families": families, "importances": importances,
        "rows": {name: len(frame) for name, frame in frames.items()},
        "thresholds": {"good_ratio": GOOD_RATIO, "fair_ratio": FAIR_RATIO},
        "verdict": utility_verdict(ratio),
    }
    return Section("utility", metrics=metrics, details=details, notes=notes)


def _run(task: _Task, tables: EvaluationTables, frames: dict[str, pd.DataFrame], tests: dict[str, Any],
         y_test: np.ndarray, random_state: int) -> tuple[dict[str, dict[str, dict]], list[dict]]:
    """Fit every family on the synthetic and real tables, score them on the holdout, and get importances."""
    families: dict[str, dict[str, dict]] = {f: {} for f in FAMILIES}
    boosters: dict[str, _Fit] = {}
    for mode, train in (("tstr", "synthetic"), ("trtr", "real")):
        for family in FAMILIES:
            fitted = _fit(task, family, tables, frames[train], train, random_state)
            scores = (_scores(task, fitted.model, tests[family], y_test) if fitted.model is not None
                      else dict.fromkeys(task.metrics))
            families[family][mode] = {**scores, "note": fitted.note, "caveat": fitted.caveat}
            if family == "boosting":
                boosters[train] = fitted
    return families, _importances(task, boosters, tests["boosting"], y_test, random_state)


def utility_verdict(ratio: float | None) -> str:
    """``"good"`` when ``ratio >= GOOD_RATIO``, ``"fair"`` when ``>= FAIR_RATIO``, else ``"poor"``.

    A ratio that could not be computed (None or NaN) is ``"poor"``: a synthetic table whose
    usefulness for training cannot be shown is not reported as useful.
    """
    if ratio is None or not math.isfinite(ratio):
        return "poor"
    return "good" if ratio >= GOOD_RATIO else "fair" if ratio >= FAIR_RATIO else "poor"


def class_notes(task: _Task, frames: dict[str, pd.DataFrame]) -> list[str]:
    """Notes on classes that one of the (subsampled) real, synthetic and holdout tables lacks.

    Parameters
    ----------
    task : _Task
    frames : dict of DataFrame
        ``{"real", "synthetic", "holdout"}`` rows with a known target, as the models see them.

    Returns
    -------
    list of str
        Empty for a regression task or when every table holds every class.
    """
    if task.kind != "classification":
        return []
    counts = {name: frame[task.target].map(label_text).value_counts() for name, frame in frames.items()}
    seen = {name: set(found.index) for name, found in counts.items()}
    real_or_holdout = seen["real"] | seen["holdout"]
    notes = []
    them = lambda labels: "them" if len(labels) > 1 else "it"  # noqa: E731
    if only := seen["synthetic"] - real_or_holdout:
        rows = int(counts["synthetic"][sorted(only)].sum())
        notes.append(_about(task, only, "occur", "occurs") + f" only in the synthetic table ({rows} "
                     f"row{'s' if rows > 1 else ''}); no real row has {them(only)}, so the scores leave "
                     f"{'their' if len(only) > 1 else 'its'} predicted probability out.")
    if absent := real_or_holdout - seen["synthetic"]:
        notes.append(_about(task, absent, "never occur", "never occurs") + " in the synthetic table, so the models "
                     f"trained on it never predict {them(absent)}.")
    if unseen := seen["holdout"] - seen["real"]:
        notes.append(_about(task, unseen, "occur", "occurs") + " in the holdout but not in the real training "
                     f"table, so the models trained on real data never predict {them(unseen)} either.")
    if untested := seen["real"] - seen["holdout"]:
        notes.append(_about(task, untested, "have", "has") + " no row in the holdout, so no score covers "
                     f"{them(untested)}.")
    return notes


def _about(task: _Task, labels: set[str], plural: str, singular: str) -> str:
    """``"Classes 0, 6 of 'T' <plural>"`` or ``"Class 0 of 'T' <singular>"``, values as in the tables."""
    phrase = _classes(task, labels)
    return phrase[0].upper() + phrase[1:] + " " + (plural if len(labels) > 1 else singular)


def _classes(task: _Task, labels: set[str]) -> str:
    """``"classes 0, 6 of 'T'"`` or ``"class 0 of 'T'"``; a value the real tables hold is shown as there."""
    shown = {**task.synthetic_only, **task.originals}
    listed = ", ".join(repr(shown.get(label, label)) for label in sorted(labels))
    return f"class{'es' if len(labels) > 1 else ''} {listed} of '{task.target}'"


# ---------------------------------------------------------------------------- preparation
def _skip_reason(tables: EvaluationTables) -> str | None:
    missing = []
    if tables.target is None:
        missing.append("No target column: pass target= (the column a model should predict) "
                       "to measure train-on-synthetic, test-on-real utility.")
    if tables.holdout is None:
        missing.append("No holdout table: pass holdout= (real rows the generator never saw) "
                       "to measure train-on-synthetic, test-on-real utility.")
    return " ".join(missing) or None


def _task(tables: EvaluationTables) -> _Task:
    """The task from the target's kind; classes and positive class from the real table."""
    target = tables.target
    kind = tables.metadata[target].kind
    features = [c for c in tables.columns if c != target]
    if kind == "datetime":
        raise ValueError(
            f"Target '{target}' is a datetime column; utility needs a categorical target (classification) "
            f"or a numerical one (regression). Pick another target, or convert '{target}' to a number "
            f"(e.g. a year) in all three tables and describe it as numerical in the metadata."
        )
    if not features:
        raise ValueError(f"Target '{target}' is the only evaluated column, so there are no features "
                         f"to predict it from; evaluate a table with more columns.")
    if kind == "numerical":
        return _Task("regression", target, features)
    originals: dict[str, Any] = {}
    for frame in (tables.real, tables.holdout):
        for value in frame[target].dropna().unique():
            originals.setdefault(label_text(value), _shown(value))
    counts = tables.real[target].dropna().map(label_text).value_counts()
    classes = sorted(originals)
    synthetic_only = {label_text(v): _shown(v) for v in tables.synthetic[target].dropna().unique()
                      if label_text(v) not in originals}
    positive = None
    if len(classes) == 2 and len(counts) == 2:
        positive = min(sorted(counts.index), key=lambda c: counts[c])  # rarer class; ties -> first sorted
    return _Task("classification", target, features, classes, positive, originals, synthetic_only)


def _rows(frame: pd.DataFrame, target: str, max_rows: int, random_state: int) -> pd.DataFrame:
    """Rows with a known target; a seeded subsample (original order) of at most ``max_rows``."""
    frame = frame[frame[target].notna()]
    if len(frame) > max_rows:
        picked = np.sort(np.random.default_rng(random_state).choice(len(frame), size=max_rows, replace=False))
        frame = frame.iloc[picked]
    return frame.reset_index(drop=True)


def _data_reason(task: _Task, frames: dict[str, pd.DataFrame]) -> str | None:
    """Why TRTR cannot be computed from the real and holdout tables, if it cannot."""
    for name in ("real", "holdout"):
        if frames[name].empty:
            return (f"The {name} table has no row with a known '{task.target}': "
                    f"utility needs rows where the target is filled in.")
    if task.kind == "classification" and frames["real"][task.target].map(label_text).nunique() < 2:
        value = _shown(frames["real"][task.target].iloc[0])
        return (f"Target '{task.target}' has a single class ({value!r}) in the real table, so no classifier "
                f"can be trained even on real data; choose a target with at least two classes.")
    return None


def _shown(value: Any) -> Any:
    """A table value as plain Python, for messages and JSON."""
    return value.item() if isinstance(value, np.generic) else value


def _labels(task: _Task, frame: pd.DataFrame) -> np.ndarray:
    """Target as str labels (classification) or float64 (regression), shape ``(n,)``."""
    if task.kind == "classification":
        return np.array([label_text(v) for v in frame[task.target]], dtype=object)
    return frame[task.target].to_numpy(dtype=float)


def label_text(value: Any) -> str:
    """A class as text; a whole float is written as an integer (1.0 -> "1").

    A column of integer classes reads as float in a table that also holds nulls, and
    the same class must get the same label in the real, synthetic and holdout tables.
    """
    value = _shown(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _boosting_matrix(tables: EvaluationTables, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """``(n, len(features))`` float64 matrix for the trees: numbers, and category codes (NaN when missing).

    Codes index the real table's levels (:meth:`EvaluationTables.model_features`); a value
    the real table lacks is missing. See :func:`_categorical_mask` for which columns are codes.
    """
    out = tables.model_features(frame, features)
    columns = [np.where(out[c].isna(), np.nan, out[c].cat.codes.to_numpy(dtype=float))
               if isinstance(out[c].dtype, pd.CategoricalDtype) else out[c].to_numpy(dtype=float) for c in features]
    return np.column_stack(columns) if columns else np.empty((len(frame), 0))


def _categorical_mask(tables: EvaluationTables, features: list[str]) -> np.ndarray:
    """Which matrix columns the trees split on natively as categories.

    A column with more than :data:`MAX_NATIVE_LEVELS` levels stays an (ordered) code,
    since HistGradientBoosting splits natively on at most that many categories.
    """
    return np.array([c in tables.categorical and len(tables.levels(c)) <= MAX_NATIVE_LEVELS for c in features])


def _linear_frame(tables: EvaluationTables, frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Numbers as float (NaN kept for the imputer), categories as str with a missing level."""
    out = tables.model_features(frame, features)
    for column in out.columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype(object).where(out[column].notna(), MISSING_LEVEL).astype(str)
    return out


# ---------------------------------------------------------------------------- models
def _model(task: _Task, family: str, frame: Any, random_state: int, early_stopping: bool = True) -> Any:
    """An unfitted scikit-learn estimator of ``family`` for ``task``.

    ``frame`` is the linear family's training frame (its float columns are scaled, the
    others one-hot encoded) or, for boosting, the categorical mask of :func:`_categorical_mask`.
    """
    if family == "boosting":
        cls = HistGradientBoostingClassifier if task.kind == "classification" else HistGradientBoostingRegressor
        return cls(categorical_features=frame, early_stopping=early_stopping, max_iter=BOOSTING_MAX_ITER,
                   random_state=random_state)
    numbers = [c for c in frame.columns if frame[c].dtype.kind == "f"]
    words = [c for c in frame.columns if c not in numbers]
    prepare = ColumnTransformer([
        ("numbers", Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)),
                              ("scale", StandardScaler())]), numbers),
        ("categories", OneHotEncoder(handle_unknown="ignore"), words),
    ])
    head = (LogisticRegression(max_iter=LINEAR_MAX_ITER) if task.kind == "classification" else Ridge(alpha=1.0))
    return Pipeline([("prepare", prepare), ("model", head)])


def _fit(task: _Task, family: str, tables: EvaluationTables, frame: pd.DataFrame, train: str,
         random_state: int) -> _Fit:
    """Fit ``family`` on ``frame`` (the ``train`` table); None with a note when it cannot be trained."""
    y = _labels(task, frame)
    if len(y) == 0:
        return _Fit(None, f"The {train} table has no row with a known '{task.target}', so no model was trained.")
    if task.kind == "classification" and len(set(y)) < 2:
        return _Fit(None, f"Target '{task.target}' has a single class ({_shown(frame[task.target].iloc[0])!r}) in the "
                          f"{train} table, so no classifier can be trained on it.")
    caveat = None
    if family == "boosting":
        keep, early, caveat = _boosting_rows(task, y, train)
        frame, y = frame[keep], y[keep]
        x = _boosting_matrix(tables, frame, task.features)
        model = _model(task, family, _categorical_mask(tables, task.features), random_state, early)
    else:
        x = _linear_frame(tables, frame, task.features)
        model = _model(task, family, x, random_state)
    with warnings.catch_warnings():
        # An unconverged linear model at LINEAR_MAX_ITER is still a fair baseline.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    return _Fit(model, caveat=caveat)


def _boosting_rows(task: _Task, y: np.ndarray, train: str) -> tuple[np.ndarray, bool, str | None]:
    """Which training rows gradient boosting uses, whether it early-stops, and a note when either changed.

    Early stopping holds out a stratified 10% of the rows (:mod:`tabsynth.evaluation.boosting`),
    which a class with a single row makes impossible. Such rows are left out of the boosting
    model (one row teaches it next to nothing, and TSTR and TRTR then keep the same fitting
    procedure); when that leaves fewer than two classes, or the table is too small for the
    split anyway, the model is fitted on every row without early stopping.

    Returns
    -------
    (keep, early_stopping, note) : (ndarray of bool, shape (n,), bool, str or None)
    """
    blocker = early_stopping_blocker(y) if task.kind == "classification" else None
    if blocker is None:
        return np.ones(len(y), dtype=bool), True, None
    labels, counts = np.unique(y, return_counts=True)
    single = set(labels[counts < 2])
    keep = ~np.isin(y, list(single))
    if single and len(labels) - len(single) >= 2 and early_stopping_blocker(y[keep]) is None:
        rows = "rows" if len(single) > 1 else "row"
        return keep, True, (
            f"Gradient boosting was trained on the {train} table without the single {rows} of "
            f"{_classes(task, single)}: a class needs two rows for the model's stratified early-stopping split "
            f"(the linear model keeps the {rows}).")
    reason = (f"{_classes(task, single)} {'have a single row each' if len(single) > 1 else 'has a single row'}, "
              f"too few for its stratified validation split" if single else f"in '{task.target}', {blocker}")
    return np.ones(len(y), dtype=bool), False, (
        f"Gradient boosting was fitted on the {train} table without early stopping (all {BOOSTING_MAX_ITER} "
        f"iterations): {reason}.")


def class_probabilities(model: Any, x: pd.DataFrame | np.ndarray, classes: list[str]) -> np.ndarray:
    """``(n, len(classes))`` float64 class probabilities in ``classes`` order.

    A class the model never saw in training gets probability 0; a class the model knows
    but ``classes`` lacks (one only the synthetic table has) is dropped.
    """
    proba = model.predict_proba(x)
    out = np.zeros((len(x), len(classes)))
    known = {str(c): i for i, c in enumerate(model.classes_)}
    for j, label in enumerate(classes):
        if label in known:
            out[:, j] = proba[:, known[label]]
    return out


def macro_ovr_auc(y: np.ndarray, proba: np.ndarray, classes: list[str]) -> float:
    """ROC AUC of each class against the rest, averaged over classes present in ``y``.

    Hand and Till (2001) discuss the one-vs-rest average; a class absent from ``y`` (or
    ``y`` holding a single class) has no AUC and is left out. NaN when no class has one.
    For two classes this equals the plain binary AUC.
    """
    scores = []
    for j, label in enumerate(classes):
        hits = y == label
        if 0 < hits.sum() < len(y):
            scores.append(roc_auc_score(hits, proba[:, j]))
            if len(classes) == 2:
                break  # both classes give the same AUC
    return float(np.mean(scores)) if scores else float("nan")


def _scores(task: _Task, model: Any, x: pd.DataFrame | np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    """The task's metrics of a fitted model on the holdout ``(x, y)``; None where undefined."""
    if task.kind == "regression":
        pred = model.predict(x)
        return {"r2": float(r2_score(y, pred)) if len(y) > 1 else None,
                "rmse": float(np.sqrt(mean_squared_error(y, pred))), "mae": float(mean_absolute_error(y, pred))}
    proba = class_probabilities(model, x, task.classes)
    pred = np.asarray(task.classes, dtype=object)[proba.argmax(axis=1)]
    auc = macro_ovr_auc(y, proba, task.classes)
    if task.positive is not None:
        f1 = f1_score(y == task.positive, pred == task.positive, zero_division=0.0)
    else:
        f1 = f1_score(y, pred, labels=sorted(set(y)), average="macro", zero_division=0.0)
    return {"auc": auc if math.isfinite(auc) else None, "accuracy": float(accuracy_score(y, pred)), "f1": float(f1)}


def _primary_scorer(task: _Task) -> Callable[[Any, pd.DataFrame, np.ndarray], float]:
    """``scorer(model, x, y)`` of the primary metric, for permutation importance."""
    def scorer(model: Any, x: np.ndarray, y: np.ndarray) -> float:
        if task.kind == "regression":
            return float(r2_score(y, model.predict(x)))
        return macro_ovr_auc(y, class_probabilities(model, x, task.classes), task.classes)
    return scorer


def _importances(task: _Task, boosters: dict[str, _Fit], x: np.ndarray, y: np.ndarray,
                 random_state: int) -> list[dict]:
    """Permutation importance (drop of the primary metric) of each feature for both boosting models.

    Computed on at most :data:`IMPORTANCE_ROWS` holdout rows (divided by ``classes - 1`` for
    a multiclass target, whose trees cost that many times more to evaluate, but at least
    :data:`MIN_IMPORTANCE_ROWS`) with the same shuffles for both models. Sorted by the real-trained model's importance, largest first; None where a model
    is missing or the metric is undefined on the holdout.
    """
    rows = max(MIN_IMPORTANCE_ROWS, IMPORTANCE_ROWS // max(1, len(task.classes) - 1))
    if len(x) > rows:
        picked = np.sort(np.random.default_rng(random_state).choice(len(x), size=rows, replace=False))
        x, y = x[picked], y[picked]
    values: dict[str, list[float | None]] = {}
    for train in ("synthetic", "real"):
        fitted = boosters[train]
        values[train] = [None] * len(task.features)
        if fitted.model is None or not math.isfinite(_primary_scorer(task)(fitted.model, x, y)):
            continue
        result = permutation_importance(fitted.model, x, y, scoring=_primary_scorer(task),
                                        n_repeats=IMPORTANCE_REPEATS, random_state=random_state, n_jobs=1)
        values[train] = [float(v) for v in result.importances_mean]
    rows = [{"column": c, "synthetic": s, "real": r}
            for c, s, r in zip(task.features, values["synthetic"], values["real"])]
    return sorted(rows, key=lambda row: -(row["real"] if row["real"] is not None else -math.inf))


# ---------------------------------------------------------------------------- summary figures
def tstr_trtr_ratio(tstr: float | None, trtr: float | None) -> float | None:
    """``tstr / trtr``; None when either is missing or ``trtr <= 0`` (no real signal to keep)."""
    if tstr is None or trtr is None or not (math.isfinite(tstr) and math.isfinite(trtr)) or trtr <= 0:
        return None
    return tstr / trtr


def rank_agreement(tstr: dict[str, float | None], trtr: dict[str, float | None]) -> float | None:
    """1.0 when ordering the families by score gives the same order under TSTR and TRTR, else 0.0.

    Compared pair by pair: for every two families, the sign of the score difference
    (``-1``, ``0`` for a tie, ``+1``) must be the same under TSTR as under TRTR. With the
    two families here it is a yes/no answer. None when a score is missing.
    """
    names = list(tstr)
    if any(tstr[n] is None or trtr.get(n) is None for n in names):
        return None
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            if np.sign(tstr[first] - tstr[second]) != np.sign(trtr[first] - trtr[second]):
                return 0.0
    return 1.0


def importance_correlation(importances: list[dict]) -> float | None:
    """Spearman rank correlation of the synthetic- and real-trained importances.

    None when either side is missing or constant (a rank correlation is then undefined).
    """
    pairs = [(row["synthetic"], row["real"]) for row in importances]
    if len(pairs) < 2 or any(s is None or r is None for s, r in pairs):
        return None
    synthetic, real = np.array(pairs, dtype=float).T
    if np.ptp(synthetic) == 0 or np.ptp(real) == 0:
        return None
    return float(spearmanr(synthetic, real).statistic)


def _metrics(task: _Task, families: dict[str, dict[str, dict]], importances: list[dict]) -> list[Metric]:
    """Every metric of the section, in report order."""
    out = []
    positive = f"rows of class {task.originals.get(task.positive)!r}" if task.positive is not None else "classes"
    for mode, train in (("tstr", "synthetic"), ("trtr", "real")):
        for family in FAMILIES:
            scores = families[family][mode]
            for name in task.metrics:
                lower = name in ("rmse", "mae")
                meaning = _MEANINGS[name].format(family=_FAMILY_LABELS[family], train=train, positive=positive)
                out.append(Metric(
                    f"utility.{mode}_{family}_{name}", f"{mode.upper()} {_FAMILY_LABELS[family]} {_LABELS[name]}",
                    scores[name], 0.0 if lower else 1.0, "lower" if lower else "higher",
                    meaning[0].upper() + meaning[1:] + ".",
                    note=scores["note"] if scores[name] is None else scores["caveat"]))
    return out + _summary_metrics(task, families, importances)


def _summary_metrics(task: _Task, families: dict[str, dict[str, dict]], importances: list[dict]) -> list[Metric]:
    primary, label = task.primary, _LABELS[task.primary]
    boost = families["boosting"]
    ratio = tstr_trtr_ratio(boost["tstr"][primary], boost["trtr"][primary])
    agree = rank_agreement({f: families[f]["tstr"][primary] for f in FAMILIES},
                           {f: families[f]["trtr"][primary] for f in FAMILIES})
    corr = importance_correlation(importances)
    missing = boost["tstr"]["note"] or boost["trtr"]["note"]
    caveats = " ".join(boost[mode]["caveat"] for mode in ("tstr", "trtr") if boost[mode]["caveat"]) or None
    return [
        Metric("utility.tstr_trtr_ratio", f"TSTR / TRTR {label} (gradient boosting)", ratio, 1.0, "target",
               f"How much of a gradient-boosting model's {label} on real holdout rows is kept when it is trained "
               f"on the synthetic table instead of the real one (1 means nothing is lost).",
               note=_ratio_note(ratio, missing, label) or caveats),
        Metric("utility.rank_agreement", "Model ranking agreement", agree, 1.0, "higher",
               f"Yes (1) or no (0): does the model family that scores the higher {label} when trained on real "
               f"data also score higher when trained on synthetic data.",
               note=None if agree is not None else missing or f"A {label} could not be computed for every model."),
        Metric("utility.importance_correlation", "Feature importance correlation", corr, 1.0, "higher",
               "How closely a model trained on synthetic data ranks the features by importance as one trained "
               "on real data does (1 is the same order, 0 unrelated).",
               note=None if corr is not None else missing or "Permutation importances are missing or all equal."),
    ]


def _ratio_note(ratio: float | None, missing: str | None, label: str) -> str | None:
    if ratio is None:
        return missing or f"TRTR {label} is not positive or not defined, so there is no real predictive value to compare with."
    if ratio > SUSPICIOUS_RATIO:
        return ("Training on synthetic data beats training on real data; check whether the synthetic table "
                "holds copies of holdout rows (see the privacy section).")
    return None
