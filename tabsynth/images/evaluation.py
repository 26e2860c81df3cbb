"""``evaluate``: how good, how useful and how private a set of generated images is, measured
against real MNIST like the tables' report (TSTR, fidelity, memorisation, membership inference).
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch

from tabsynth.images import metrics
from tabsynth.images.classifiers import features, load_reference, predict, train_classifier
from tabsynth.images.data import ImageSet, balanced_subset, has_split, load_images
from tabsynth.images.report import ImageReport, Metric


def _as_set(value: ImageSet | str | os.PathLike, split: str) -> ImageSet:
    return value if isinstance(value, ImageSet) else load_images(value, split=split)


def _pixels(images: ImageSet) -> np.ndarray:
    return images.x.reshape(len(images), -1).astype(np.float32) / 255.0  # (N, C*H*W) in [0, 1]


def evaluate(synthetic: ImageSet | str | os.PathLike, real: ImageSet | str | os.PathLike,
             holdout: ImageSet | str | os.PathLike | None = None, *, model=None, tstr_seeds: int = 5,
             tstr_epochs: int = 5, tstr_size: int = 60_000, eval_size: int = 10_000, augmentation: dict | None = None,
             random_state: int = 0, device: str = "cpu", verbose: bool = False) -> ImageReport:
    """Score generated images against real ones.

    Parameters
    ----------
    synthetic : ImageSet or path
        Generated images with the labels they were asked for (uint8 (N, C, H, W)); a path
        is read with :func:`~tabsynth.images.data.load_images`.
    real : ImageSet or path
        The real training images the generator learned from. A keras-layout ``.npz`` path
        (``x_train``, ``x_test``, ...) also supplies ``holdout`` from its test split.
    holdout : ImageSet, path or None
        Real images the generator never saw (MNIST's test set).
    model : ImageSynthesizer or None
        The generator; its privacy ledger (DP fits) is added to the report.
    tstr_seeds : int, default 5
        Classifier seeds of TSTR (train on synthetic, test on real) and of its real baseline.
    tstr_epochs : int, default 5
        Epochs of each LeNet-5 classifier.
    tstr_size : int, default 60,000
        Class-balanced synthetic training images of TSTR (all there are when fewer).
    eval_size : int, default 10,000
        Images per set in the feature and distance metrics (class-balanced subsets).
    augmentation : dict or None
        A result of :func:`~tabsynth.images.augmentation_gain.augmentation_gain`, shown as
        the report's "augmentation" section.
    random_state : int, default 0
    device : str, default "cpu"

    Returns
    -------
    ImageReport
        ``.metrics`` by section ("utility", "fidelity", "privacy", and "differential_privacy"
        for a DP model), ``.to_json(path)``, ``.to_html(path)``.

    Raises
    ------
    ValueError
        If the sets differ in image shape, a synthetic label is not a real class, or no
        holdout is given or found.
    """
    started = time.perf_counter()
    fake = _as_set(synthetic, "train")
    train = _as_set(real, "train")
    if holdout is None and not isinstance(real, ImageSet) and has_split(real, "test"):
        holdout = load_images(real, split="test")
    if holdout is None:
        raise ValueError("evaluate needs holdout images the generator never saw (for MNIST its test split); pass "
                         "holdout=... or a keras-layout .npz with x_test / y_test as real.")
    test = _as_set(holdout, "test")
    for name, other in (("synthetic", fake), ("holdout", test)):
        if other.image_shape != train.image_shape:
            raise ValueError(f"The {name} images are {other.image_shape} (C, H, W) but the real ones are "
                             f"{train.image_shape}; evaluate compares images of one shape.")
    if fake.n_classes > train.n_classes:
        raise ValueError(f"Synthetic label {fake.n_classes - 1} is not a class of the real images "
                         f"(0..{train.n_classes - 1}).")
    rng = np.random.default_rng(random_state)
    device = torch.device(device)
    say = (lambda m: print(m, flush=True)) if verbose else (lambda m: None)
    report = ImageReport(counts={"synthetic": len(fake), "real": len(train), "holdout": len(test)})

    say("TSTR")
    report.sections["utility"] = _utility(fake, train, test, tstr_seeds, tstr_epochs, tstr_size, rng, device)
    per_class = max(1, eval_size // train.n_classes)
    fake_eval = balanced_subset(fake, per_class, rng)
    train_eval = balanced_subset(train, per_class, rng)
    test_eval = balanced_subset(test, per_class, rng)
    say("reference features")
    reference = load_reference(device)
    report.sections["utility"].append(_label_accuracy(reference, fake, device))
    report.sections["fidelity"] = _fidelity(reference, fake_eval, train_eval, test_eval, device)
    say("memorisation")
    report.sections["privacy"] = _privacy(fake_eval, train, train_eval, test_eval)
    if model is not None and getattr(model, "privacy_", None) is not None:
        ledger = model.privacy_
        report.sections["differential_privacy"] = [
            Metric("dp.epsilon", "Epsilon (total, accountant)", ledger["epsilon"], None,
                   f"Differential privacy guarantee of the generator: {ledger['accountant']}, delta "
                   f"{ledger['delta']:.1e}, neighbouring = {ledger.get('neighbouring', 'add or remove one image')}.")]
        report.privacy_ledger = ledger
    if augmentation is not None:
        report.sections["augmentation"] = augmentation_metrics(augmentation)
    report.grid = _grid_images(fake, rng)
    report.seconds = round(time.perf_counter() - started, 1)
    return report


def _utility(fake: ImageSet, train: ImageSet, test: ImageSet, seeds: int, epochs: int, size: int,
             rng: np.random.Generator, device: torch.device) -> list[Metric]:
    fake_train = balanced_subset(fake, max(1, size // train.n_classes), rng)
    x_test, y_test = test.to_tensors(device)

    def accuracies(images: ImageSet) -> np.ndarray:
        x, y = images.to_tensors(device)
        return np.array([float((predict(train_classifier(x, y, epochs=epochs, seed=seed, n_classes=train.n_classes),
                                        x_test) == test.y).mean()) for seed in range(seeds)])

    tstr, trtr = accuracies(fake_train), accuracies(train)
    spread = "mean over {n} LeNet-5 seeds (std {s:.4f})"
    return [
        Metric("utility.tstr_accuracy", "TSTR accuracy", float(tstr.mean()), float(trtr.mean()),
               f"A LeNet-5 trained on {len(fake_train):,} class-balanced synthetic images, tested on the "
               f"{len(test):,} real holdout images; ideal = the same classifier trained on real images.",
               note=spread.format(n=seeds, s=tstr.std()), spread=float(tstr.std()), runs=tstr.tolist()),
        Metric("utility.trtr_accuracy", "Real-trained accuracy", float(trtr.mean()), None,
               f"The same LeNet-5 trained on the {len(train):,} real training images (the ceiling of TSTR).",
               note=spread.format(n=seeds, s=trtr.std()), spread=float(trtr.std()), runs=trtr.tolist()),
    ]


def _label_accuracy(reference, fake: ImageSet, device: torch.device) -> Metric:
    x, _ = fake.to_tensors(device)
    accuracy = float((predict(reference, x) == fake.y).mean())
    return Metric("utility.label_accuracy", "Label accuracy", accuracy, 1.0,
                  "Share of generated images the reference CNN reads as the digit they were asked to be "
                  "(a generator that ignores its label scores about 0.1).")


def _fidelity(reference, fake: ImageSet, train: ImageSet, test: ImageSet, device: torch.device) -> list[Metric]:
    f_fake, f_train, f_test = (features(reference, s.to_tensors(device)[0]) for s in (fake, train, test))
    fd = metrics.frechet_distance(f_fake, f_test)
    floor = metrics.frechet_distance(f_train, f_test)
    prdc = metrics.precision_recall_density_coverage(f_train, f_fake, k=5)
    prdc_floor = metrics.precision_recall_density_coverage(f_train, f_test, k=5)
    out = [
        Metric("fidelity.frechet_distance", "Frechet distance", fd, floor,
               "Distance between Gaussians fitted to the reference CNN's features of generated and real holdout "
               "images; ideal = the floor of real training vs real holdout images."),
        Metric("fidelity.frechet_ratio", "Frechet distance / floor", fd / max(floor, 1e-12), 1.0,
               "How many times the real-vs-real floor the generated images are."),
    ]
    meanings = {"precision": "Share of generated images that look like some real image (inside a real image's "
                             "5-nearest-neighbour ball).",
                "recall": "Share of real images near some generated image (the variety of digits covered).",
                "density": "How densely generated images sit in real neighbourhoods (about 1 when matched).",
                "coverage": "Share of real images whose neighbourhood holds a generated image."}
    for key, meaning in meanings.items():
        out.append(Metric(f"fidelity.{key}", key.capitalize(), prdc[key], prdc_floor[key],
                          meaning + " Ideal = the same figure for real holdout images (Naeem et al. 2020, k = 5)."))
    return out


def _privacy(fake: ImageSet, train_all: ImageSet, train_eval: ImageSet, test: ImageSet) -> list[Metric]:
    copying = metrics.memorisation(_pixels(train_all), _pixels(test), _pixels(fake))
    auc = metrics.distance_membership_auc(_pixels(train_eval), _pixels(test), _pixels(fake))
    return [
        Metric("privacy.nn_distance_ratio", "Nearest-training-image distance ratio", copying["median_ratio"], 1.0,
               f"Median pixel distance of a generated image to its nearest training image "
               f"({copying['fake_median']:.2f}) over the same for real holdout images ({copying['test_median']:.2f}); "
               "well below 1 means copying (Meehan et al. 2020)."),
        Metric("privacy.z_u", "Data-copying statistic Z_U", copying["z_u"], 0.0,
               "Mann-Whitney z of generated vs holdout nearest-training distances: strongly negative = data "
               "copying, strongly positive = far from the data (Meehan et al. 2020, without cells)."),
        Metric("privacy.near_duplicates", "Near-duplicates", copying["near_duplicates"], 0,
               f"Generated images closer to a training image than any real holdout image comes "
               f"(pixel distance < {copying['duplicate_threshold']:.3f})."),
        Metric("privacy.membership_auc", "Membership inference AUC", auc, 0.5,
               "ROC AUC of guessing training members vs holdout images by their distance to the nearest generated "
               "image; 0.5 = the images tell nothing about who was in training."),
    ]


def _grid_images(fake: ImageSet, rng: np.random.Generator, per_class: int = 10) -> ImageSet:
    picks = []
    for label in range(fake.n_classes):
        members = np.flatnonzero(fake.y == label)
        picks.extend(rng.choice(members, size=min(per_class, len(members)), replace=False).tolist())
    return fake.subset(np.asarray(picks, dtype=np.int64))


def augmentation_metrics(result: dict) -> list[Metric]:
    """The "augmentation" section of the report from an :func:`augmentation_gain` result."""
    out = []
    generator = result["settings"]["generator"]
    for size, row in result["sizes"].items():
        low, high = row["gain_ci95"]
        out.append(Metric(f"augmentation.gain_{size}", f"Gain with N = {size}", row["gain_mean"], None,
                          f"Accuracy added by {result['settings']['synthetic_per_class']:,} synthetic images per class "
                          f"from a {generator} trained on the same {size} real images, over LeNet-5 on those images "
                          f"with classic augmentation ({np.mean(row['without']):.4f} -> {np.mean(row['with']):.4f}); "
                          f"above 0 = the generator helps.",
                          note=f"paired over {len(row['with'])} seeds: 95% CI {low:+.4f} to {high:+.4f}, "
                               f"positive in {row['positive_share']:.0%}", spread=row["gain_std"]))
    return out
