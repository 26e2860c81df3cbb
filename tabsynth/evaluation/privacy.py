"""Privacy section: does the synthetic table leak the training rows more than new real rows would?

Every figure is read against a baseline made of real rows the generator never saw (the
holdout), so a value is judged by how far it is from what genuinely new data would score:

* exact copies — synthetic rows identical to a training row, against the share of holdout
  rows identical to one;
* distance to closest record (DCR) with the Gower distance — the share of synthetic rows
  closer to train than to holdout (Platzer & Reutterer, 2021), median DCRs and the median
  nearest-neighbour distance ratio;
* membership inference — can an attacker tell training rows (members) from holdout rows
  (non-members) from the synthetic table alone? A distance attack (closest synthetic row)
  and a density-ratio attack in the spirit of DOMIAS (van Breugel et al., AISTATS 2023),
  scored by ROC AUC and true-positive rate at 1% and 0.1% false positives
  (Carlini et al., 2022), with bootstrap intervals;
* Anonymeter's singling-out, linkability and inference risks (Giomi et al., PoPETs 2023),
  run in the referee environment (:mod:`tabsynth.evaluation.anonymeter`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tabsynth.evaluation import anonymeter as anonymeter_bridge
from tabsynth.evaluation.attacks import (FPR_LEVELS, GowerPoints, attack_summary, bootstrap_attack,
                                         domias_scores, nearest_gower, nearest_ratio, roc_points,
                                         row_hashes, share_in, tie_split_share)
from tabsynth.evaluation.metrics import Metric
from tabsynth.evaluation.report import Section
from tabsynth.evaluation.tables import GOWER_ONEHOT_MAX_LEVELS, EvaluationTables

# Verdict thresholds. An attack AUC is judged by its distance from chance, max(auc, 1 - auc)
# (a score that ranks members *below* non-members leaks just as much once flipped).
GOOD_MIA_AUC = 0.55  # good: every attack AUC at most this
POOR_MIA_AUC = 0.65  # poor: any attack AUC above this
GOOD_DCR_GAP = 0.05  # good: |dcr_share - ideal| at most this
GOOD_COPY_MARGIN = 0.005  # good: exact_copies <= baseline + this
POOR_COPY_FACTOR = 10.0  # poor: exact_copies > max(this * baseline, POOR_COPY_FLOOR)
POOR_COPY_FLOOR = 0.01
# Reference tables (train, holdout, synthetic searched for nearest rows) are capped at
# REFERENCE_FACTOR * max_rows rows so the cost stays bounded on very large tables.
REFERENCE_FACTOR = 10
MIN_ATTACK_ROWS = 20  # members (and non-members) below which the attacks are not run
N_BOOTSTRAP = 200
HISTOGRAM_BINS = 30
NO_DENSITY = ("Not computed: DOMIAS estimates densities over the numerical columns and the one-hot encoded "
              "categorical ones, and every column here is a categorical one with too many levels for a one-hot "
              f"encoding (more than {GOWER_ONEHOT_MAX_LEVELS}).")
NO_HOLDOUT = ("No holdout table: privacy risk needs real rows the generator never saw as a baseline; "
              "pass holdout=.")


def privacy_section(tables: EvaluationTables, *, max_rows: int, anonymeter: bool, random_state: int) -> Section:
    """Compute the privacy section.

    Parameters
    ----------
    tables : EvaluationTables
        Real (training), synthetic and holdout tables.
    max_rows : int
        Synthetic rows whose DCR is computed, and members / non-members per attack
        (seeded subsamples); reference tables are capped at ``REFERENCE_FACTOR * max_rows``.
    anonymeter : bool
        Run Anonymeter's attacks when its environment exists.
    random_state : int

    Returns
    -------
    Section
        ``"privacy"``; skipped (with the reason) when there is no holdout table.

    Raises
    ------
    ValueError
        When ``max_rows`` is below 1.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1 (got {max_rows}); it is the number of rows sampled per table.")
    if tables.holdout is None:
        return Section("privacy", skipped_reason=NO_HOLDOUT)
    rng = np.random.default_rng(random_state)
    details: dict = {}
    metrics = _exact_copy_metrics(tables)
    spaces = {name: _gower_points(tables, frame) for name, frame in
              (("train", tables.real), ("synthetic", tables.synthetic), ("holdout", tables.holdout))}
    metrics += _dcr_metrics(spaces, max_rows, rng, details)
    metrics += _attack_metrics(spaces, max_rows, rng, details, random_state)
    found, anonymeter_details = anonymeter_bridge.anonymeter_metrics(
        tables, enabled=anonymeter, max_rows=max_rows, random_state=random_state)
    metrics += found
    details["anonymeter"] = anonymeter_details
    details["verdict"] = privacy_verdict({m.key: m for m in metrics})
    details["thresholds"] = {"good_mia_auc": GOOD_MIA_AUC, "poor_mia_auc": POOR_MIA_AUC,
                             "good_dcr_gap": GOOD_DCR_GAP, "good_copy_margin": GOOD_COPY_MARGIN,
                             "poor_copy_factor": POOR_COPY_FACTOR, "poor_copy_floor": POOR_COPY_FLOOR}
    return Section("privacy", metrics=metrics, details=details)


def privacy_verdict(metrics: dict[str, Metric]) -> str:
    """"good", "fair" or "poor" from the module's thresholds (metrics without a value are ignored).

    good: every attack AUC within ``GOOD_MIA_AUC`` of chance, the DCR share within
    ``GOOD_DCR_GAP`` of its ideal and exact copies at most ``GOOD_COPY_MARGIN`` above the
    holdout baseline; poor: any attack AUC beyond ``POOR_MIA_AUC`` or exact copies above
    ``max(POOR_COPY_FACTOR * baseline, POOR_COPY_FLOOR)``; fair otherwise.
    """
    aucs = [max(m.value, 1 - m.value) for k, m in metrics.items()
            if k.endswith("_auc") and k.startswith("privacy.mia_") and m.value is not None]
    copies, baseline = metrics["privacy.exact_copies"].value, metrics["privacy.exact_copies_holdout"].value
    if any(a > POOR_MIA_AUC for a in aucs) or copies > max(POOR_COPY_FACTOR * baseline, POOR_COPY_FLOOR):
        return "poor"
    dcr = metrics.get("privacy.dcr_share")
    dcr_ok = dcr is None or dcr.value is None or abs(dcr.value - dcr.ideal) <= GOOD_DCR_GAP
    if all(a <= GOOD_MIA_AUC for a in aucs) and dcr_ok and copies <= baseline + GOOD_COPY_MARGIN:
        return "good"
    return "fair"


# ---------------------------------------------------------------------- pieces
def _gower_points(tables: EvaluationTables, frame) -> GowerPoints:
    """Split :meth:`EvaluationTables.gower_space` into its numerical and one-hot blocks, with the wide codes."""
    matrix = tables.gower_space(frame)
    is_numeric = tables.gower_numeric_mask()
    return GowerPoints(np.ascontiguousarray(matrix[:, is_numeric]), np.ascontiguousarray(matrix[:, ~is_numeric]),
                       len(tables.categorical) - len(tables.wide_categorical), len(tables.columns),
                       tables.gower_codes(frame))


def _sample(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of a seeded sample of ``min(n, size)`` of ``n`` rows (all rows when n <= size)."""
    return np.arange(n) if n <= size else np.sort(rng.choice(n, size, replace=False))


def _comparable(tables: EvaluationTables, frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as float64 and categories as their real level's index (-1 when unseen), so that
    equal values compare equal whatever their dtype (1 and 1.0 are the same category)."""
    out = {}
    for column in tables.columns:
        if column in tables.categorical:
            out[column] = tables.category_codes(frame, column)
        else:
            out[column] = frame[column].to_numpy(dtype=float)
    return pd.DataFrame(out)


def _exact_copy_metrics(tables: EvaluationTables) -> list[Metric]:
    train = row_hashes(_comparable(tables, tables.real))
    copies = share_in(row_hashes(_comparable(tables, tables.synthetic)), train)
    baseline = share_in(row_hashes(_comparable(tables, tables.holdout)), train)
    return [
        Metric("privacy.exact_copies", "Exact copies of training rows", copies, baseline, "lower",
               "Share of synthetic rows identical to a training row on every column; new real rows "
               "match one as often as the holdout baseline (the ideal) says."),
        Metric("privacy.exact_copies_holdout", "Exact copies: holdout baseline", baseline, baseline, "target",
               "Share of holdout rows (real rows the generator never saw) identical to a training row: "
               "how often duplicates happen by chance in this data."),
    ]


def _dcr_metrics(spaces: dict[str, GowerPoints], max_rows: int, rng: np.random.Generator,
                 details: dict) -> list[Metric]:
    """DCR share, median DCRs and NNDR for a sample of synthetic rows; histograms into ``details``."""
    cap = REFERENCE_FACTOR * max_rows
    train = spaces["train"].take(_sample(len(spaces["train"]), cap, rng))
    holdout = spaces["holdout"].take(_sample(len(spaces["holdout"]), cap, rng))
    synthetic = spaces["synthetic"].take(_sample(len(spaces["synthetic"]), max_rows, rng))
    probe = holdout.take(_sample(len(holdout), max_rows, rng))  # holdout rows as the baseline "generator"
    k = min(2, len(train))
    syn_train, syn_holdout = nearest_gower(synthetic, train, k), nearest_gower(synthetic, holdout, 1)[:, 0]
    hold_train = nearest_gower(probe, train, k)
    train_probe = train.take(_sample(len(train), max_rows, rng))
    train_holdout = nearest_gower(train_probe, holdout, 1)[:, 0]
    ideal_share = len(train) / (len(train) + len(holdout))
    share = tie_split_share(syn_train[:, 0], syn_holdout)
    # The holdout rows' own share, each against the other holdout rows (its nearest holdout row
    # is itself, so the second nearest is the nearest other one): what new real rows score,
    # ties between repeated real rows included.
    share_holdout = ideal_holdout = None
    if len(holdout) > 1:
        hold_holdout = nearest_gower(probe, holdout, 2)[:, 1]
        share_holdout = tie_split_share(hold_train[:, 0], hold_holdout)
        ideal_holdout = len(train) / (len(train) + len(holdout) - 1)
    nndr = nndr_base = None
    if k == 2:
        nndr = float(np.median(nearest_ratio(syn_train[:, 0], syn_train[:, 1])))
        nndr_base = float(np.median(nearest_ratio(hold_train[:, 0], hold_train[:, 1])))
    details["dcr"] = {"synthetic_rows": len(synthetic), "train_rows": len(train), "holdout_rows": len(holdout),
                      "baseline_rows": len(probe),
                      "histogram": _histograms({"synthetic_to_train": syn_train[:, 0],
                                                "synthetic_to_holdout": syn_holdout,
                                                "holdout_to_train": hold_train[:, 0]})}
    return [
        Metric("privacy.dcr_share", "Synthetic rows closer to train than holdout", share, ideal_share, "target",
               "Share of synthetic rows whose closest real row is a training row rather than a holdout row; "
               "far above the ideal means the generator sits on its training rows.",
               note="Ties count half; the ideal is the training rows' share of all real rows searched."),
        Metric("privacy.dcr_share_holdout", "Holdout rows closer to train than to other holdout rows", share_holdout,
               ideal_holdout, "target",
               "The same share for real held-out rows, each against the other holdout rows: what a generator "
               "drawing new real rows would score. Below the ideal where real rows repeat (ties count half).",
               note=None if share_holdout is not None else "Needs at least two holdout rows."),
        Metric("privacy.dcr_train_median", "Median distance to closest training row", float(np.median(syn_train[:, 0])),
               float(np.median(hold_train[:, 0])), "target",
               "Typical Gower distance from a synthetic row to its closest training row; well below the ideal "
               "(the same distance for holdout rows) means synthetic rows hug training rows."),
        Metric("privacy.dcr_holdout_median", "Median distance to closest holdout row", float(np.median(syn_holdout)),
               float(np.median(train_holdout)), "target",
               "Typical Gower distance from a synthetic row to its closest holdout row; the ideal is the same "
               "distance for training rows."),
        Metric("privacy.nndr", "Nearest-neighbour distance ratio", nndr, nndr_base, "target",
               "Median ratio of a synthetic row's distance to its closest and second-closest training rows; "
               "well below the ideal means synthetic rows point at single training records.",
               note=None if nndr is not None else "Needs at least two training rows."),
    ]


def _histograms(distances: dict[str, np.ndarray]) -> dict:
    """Counts per shared bin; the last bin also holds distances beyond the 99.5th percentile."""
    pooled = np.concatenate(list(distances.values()))
    top = float(np.percentile(pooled, 99.5)) or float(pooled.max()) or 1.0
    edges = np.linspace(0.0, top, HISTOGRAM_BINS + 1)
    out = {"edges": [round(float(e), 6) for e in edges]}
    for name, values in distances.items():
        out[name] = np.histogram(np.clip(values, 0.0, top), bins=edges)[0].astype(int).tolist()
    return out


def _attack_metrics(spaces: dict[str, GowerPoints], max_rows: int, rng: np.random.Generator, details: dict,
                    random_state: int) -> list[Metric]:
    """Membership inference: members = training sample, non-members = half of the holdout."""
    train, holdout, synthetic = spaces["train"], spaces["holdout"], spaces["synthetic"]
    size = min(max_rows, len(holdout) // 2, len(train))
    if size < MIN_ATTACK_ROWS:
        note = (f"Not computed: the attacks need at least {2 * MIN_ATTACK_ROWS} holdout rows "
                f"(half as non-members, half as the reference population); pass a larger holdout.")
        details["attacks"] = {"note": note}
        return [_attack_metric(name, i, None, None, note) for name in ("distance", "domias") for i in range(3)]
    order = rng.permutation(len(holdout))
    members = train.take(np.sort(rng.choice(len(train), size, replace=False)))
    non_members, reference = holdout.take(order[:size]), holdout.take(order[size:size + max_rows])
    queries = [members, non_members]
    is_member = np.r_[np.ones(size, dtype=bool), np.zeros(size, dtype=bool)]
    synth_ref = synthetic.take(_sample(len(synthetic), REFERENCE_FACTOR * max_rows, rng))
    synth_fit = synthetic.take(_sample(len(synthetic), max_rows, rng))
    scores = {"distance": -np.concatenate([nearest_gower(q, synth_ref, 1)[:, 0] for q in queries])}
    metrics, curves = [], {}
    if _dense(synth_fit).shape[1]:
        scores["domias"] = domias_scores(np.concatenate([_dense(q) for q in queries]), _dense(synth_fit),
                                         _dense(reference), random_state=random_state)
    else:
        metrics += [_attack_metric("domias", i, None, None, NO_DENSITY) for i in range(3)]
    for name, score in scores.items():
        point = attack_summary(score, is_member)
        intervals = bootstrap_attack(score, is_member, n_resamples=N_BOOTSTRAP, random_state=random_state)
        metrics += [_attack_metric(name, i, float(point[i]), (float(intervals[i, 0]), float(intervals[i, 1])))
                    for i in range(len(point))]
        fpr, tpr = roc_points(score, is_member)
        curves[name] = {"fpr": fpr, "tpr": tpr}
    details["attacks"] = {
        "members": size, "non_members": size, "domias_reference_rows": len(reference),
        "synthetic_rows_searched": len(synth_ref), "synthetic_rows_density": len(synth_fit),
        "bootstrap_resamples": N_BOOTSTRAP, "roc": curves,
        "note": "The holdout is split into disjoint halves: non-members, and the DOMIAS reference population.",
    }
    return metrics


def _dense(points: GowerPoints) -> np.ndarray:
    """Numbers and one-hots for DOMIAS's embedding; columns given as codes (too many levels) are left out."""
    return np.concatenate([points.numeric, points.onehot], axis=1)


_ATTACK_TEXT = {
    "distance": ("Distance attack", "guesses that real rows with a very close synthetic row were training rows"),
    "domias": ("Density-ratio attack (DOMIAS)", "guesses that real rows where the synthetic data is denser than "
                                                "the real population were training rows"),
}


def _attack_metric(attack: str, index: int, value, ci, note: str | None = None) -> Metric:
    label, how = _ATTACK_TEXT[attack]
    if index == 0:
        return Metric(f"privacy.mia_{attack}_auc", f"{label}: AUC", value, 0.5, "target",
                      f"How well an attacker who {how} tells them from new rows: 0.5 is a coin flip, 1 is certainty.",
                      ci=ci, note=note)
    fpr = FPR_LEVELS[index - 1]
    tag = f"{fpr * 100:g}pct"
    return Metric(f"privacy.mia_{attack}_tpr_at_fpr_{tag}", f"{label}: TPR at {fpr:.1%} FPR", value, fpr, "target",
                  f"Share of training rows the attacker exposes while wrongly accusing only {fpr:.1%} of new rows; "
                  f"a safe generator keeps it near {fpr:.1%}.", ci=ci, note=note)
