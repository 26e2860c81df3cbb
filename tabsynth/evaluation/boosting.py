"""What scikit-learn's gradient boosting needs from a training table, checked before it is fitted.

:class:`~sklearn.ensemble.HistGradientBoostingClassifier` with ``early_stopping=True``
holds out ``validation_fraction`` of the training rows with a *stratified* split
(:func:`sklearn.model_selection.train_test_split` with ``stratify=y``, i.e.
:class:`~sklearn.model_selection.StratifiedShuffleSplit`). That split refuses a class with
a single row ("The least populated classes in y have only 1 member") and a validation or
training part with fewer rows than classes. Detection and utility ask
:func:`early_stopping_blocker` first and fit without early stopping when it objects.
"""

from __future__ import annotations

import math

import numpy as np

# scikit-learn's default share of training rows held out for early stopping.
VALIDATION_FRACTION = 0.1


def early_stopping_blocker(y: np.ndarray, validation_fraction: float = VALIDATION_FRACTION) -> str | None:
    """Why the stratified early-stopping split of ``y`` cannot be drawn, or None when it can.

    Mirrors the checks of :class:`sklearn.model_selection.StratifiedShuffleSplit` for
    ``test_size=validation_fraction``: every class needs at least 2 rows, and both the
    ``ceil(validation_fraction * n)`` validation rows and the remaining training rows
    must number at least as many as the classes.

    Parameters
    ----------
    y : ndarray, shape (n,)
        Class labels of the training rows (any hashable dtype; no nulls).
    validation_fraction : float, default 0.1

    Returns
    -------
    str or None
        A clause such as ``"class '6' has a single row"`` naming the obstacle, for a note.
    """
    labels, counts = np.unique(y, return_counts=True)
    single = [str(label) for label, count in zip(labels, counts) if count < 2]
    if single:
        listed = ", ".join(f"'{label}'" for label in single)
        return f"class {listed} has a single row" if len(single) == 1 else f"classes {listed} have a single row each"
    n_validation = math.ceil(validation_fraction * len(y))
    if min(n_validation, len(y) - n_validation) < len(labels):
        return (f"its {len(y)} rows leave {n_validation} for a {validation_fraction:.0%} validation split, "
                f"fewer than the {len(labels)} classes")
    return None
