"""Augmentation gain: does a generator trained on a few labelled images add accuracy beyond
classic augmentation of those same images?

For each size N and seed: draw N class-balanced real training images; train LeNet-5 on them
with classic augmentation (:class:`~tabsynth.images.augment.Augmenter`); train a generator on
those N images only, sample ``synthetic_per_class`` images per class, and train the same
LeNet-5 (same seed, same steps) on real + synthetic images, both through the same classic
augmentation (a share ``synthetic_share`` of each batch synthetic); test both on the real
holdout. The paired difference (with - without synthetic) per seed is the gain, summarised by
its mean, standard deviation, a paired t-interval and the share of seeds where it is positive.

This is the "GAN used to enlarge a training set" of the design documents, measured with the
controls it needs (Antoniou, Storkey & Edwards 2017, "Data Augmentation Generative
Adversarial Networks", ran the same comparison on few-shot image sets).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy import stats

from tabsynth.images.augment import Augmenter
from tabsynth.images.classifiers import LeNet5, predict
from tabsynth.images.data import ImageSet, balanced_subset

CLASSIFIER_BATCH = 128  # images per LeNet-5 step, with and without synthetic images


def _synthetic_per_batch(synthetic_share: float, batch_size: int = CLASSIFIER_BATCH) -> int:
    """Synthetic images in each classifier batch of ``batch_size`` at ``synthetic_share``."""
    return round(batch_size * synthetic_share)


def _train_mixed(real_x, real_y, fake_x, fake_y, *, steps: int, seed: int, augmenter: Augmenter,
                 synthetic_share: float = 0.25, batch_size: int = CLASSIFIER_BATCH,
                 n_classes: int = 10) -> torch.nn.Module:
    """LeNet-5 on augmented real images, plus augmented synthetic ones when ``fake_x`` is given
    (``synthetic_share`` of each batch). The synthetic images go through the same augmentation
    so that the comparison isolates what the generator adds, not un-augmented images."""
    from torch.nn import functional as F

    device = real_x.device
    generator = torch.Generator(device).manual_seed(seed)
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = LeNet5(n_classes=n_classes, channels=real_x.shape[1]).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
        n_real = batch_size - _synthetic_per_batch(synthetic_share, batch_size) if fake_x is not None else batch_size
        model.train()
        for _ in range(steps):
            pick = torch.randint(0, len(real_x), (n_real,), generator=generator, device=device)
            x, y = real_x[pick], real_y[pick]
            if fake_x is not None:
                extra = torch.randint(0, len(fake_x), (batch_size - n_real,), generator=generator, device=device)
                x, y = torch.cat([x, fake_x[extra]]), torch.cat([y, fake_y[extra]])
            x = augmenter(x)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


def augmentation_gain(train: ImageSet, test: ImageSet, *, sizes: tuple[int, ...] = (100, 500, 1000), seeds: int = 10,
                      generator: str = "vae", generator_params: dict | None = None, generator_steps: int = 3000,
                      synthetic_per_class: int = 1000, synthetic_share: float = 0.25, classifier_steps: int = 2000,
                      device: str = "cpu",
                      verbose: bool = False) -> dict:
    """Measure the accuracy synthetic images add over classic augmentation with N real images.

    Parameters
    ----------
    train, test : ImageSet
        Real training images (the N are drawn from them) and the real holdout.
    sizes : tuple of int, default (100, 500, 1000)
        Real labelled images N (class-balanced: N / K per class).
    seeds : int, default 10
        Draws of the N images (and the generator's and classifier's seeds) per size.
    generator : {"vae", "dcgan", "mlp-gan"}, default "vae"
        The family trained on the N images.
    generator_params : dict or None
        Hyperparameters of the generator (``epochs`` is set from ``generator_steps``).
    generator_steps : int, default 3000
        Optimiser steps of each generator fit whatever N (epochs = steps / batches per epoch).
    synthetic_per_class : int, default 1000
        Images drawn from each generator per class (the pool the classifier's synthetic part
        of each batch is drawn from).
    synthetic_share : float, default 0.25
        Share of each classifier batch drawn from the synthetic images (the rest real); it
        must leave at least one image of each kind in a batch of 128. Measured at N = 100
        with the VAE (``benchmarks/images.py --augmentation-gain``): 0.25, augmented, +0.01
        points over 10 seeds; half a batch, not augmented (the mixing of earlier versions),
        -0.30 over 3 seeds.
    classifier_steps : int, default 2000
        Steps of each LeNet-5 (batches of 128), the same with and without synthetic images.

    Raises
    ------
    ValueError
        If ``synthetic_share`` leaves no real or no synthetic image in a batch.

    Returns
    -------
    dict
        ``{"sizes": {N: {"without": [...], "with": [...], "gain_mean", "gain_std", "gain_ci95",
        "positive_share"}}, "settings": {...}, "seconds": float}`` (accuracies as fractions).
    """
    from tabsynth.images.registry import IMAGE_MODELS

    if not 1 <= _synthetic_per_batch(synthetic_share) <= CLASSIFIER_BATCH - 1:
        raise ValueError(f"synthetic_share must leave real and synthetic images in each batch of {CLASSIFIER_BATCH} "
                         f"(between {1 / CLASSIFIER_BATCH:.4f} and {1 - 1 / CLASSIFIER_BATCH:.4f}), "
                         f"got {synthetic_share!r}.")
    device = torch.device(device)
    started = time.perf_counter()
    x_test = test.to_tensors(device)[0]
    results = {}
    for size in sizes:
        without, with_synthetic = [], []
        for seed in range(seeds):
            subset = balanced_subset(train, max(1, size // train.n_classes), np.random.default_rng(seed))
            real_x, real_y = subset.to_tensors(device)
            augmenter = Augmenter(random_state=seed)
            base = _train_mixed(real_x, real_y, None, None, steps=classifier_steps, seed=seed, augmenter=augmenter)
            params = dict(generator_params or {})
            batch = params.get("batch_size", 64)
            params.update(batch_size=batch, epochs=max(1, round(generator_steps / -(-len(subset) // batch))),
                          random_state=seed, verbose=False, device=str(device))
            model = IMAGE_MODELS[generator](**params).fit(subset)
            fake = model.sample(synthetic_per_class * train.n_classes, random_state=seed)
            fake_x, fake_y = fake.to_tensors(device)
            augmenter = Augmenter(random_state=seed)
            mixed = _train_mixed(real_x, real_y, fake_x, fake_y, steps=classifier_steps, seed=seed,
                                 augmenter=augmenter, synthetic_share=synthetic_share)
            without.append(float((predict(base, x_test) == test.y).mean()))
            with_synthetic.append(float((predict(mixed, x_test) == test.y).mean()))
            if verbose:
                print(f"N={size} seed {seed}: {without[-1]:.4f} -> {with_synthetic[-1]:.4f}", flush=True)
        gains = np.array(with_synthetic) - np.array(without)
        half_width = (float(stats.t.ppf(0.975, len(gains) - 1) * gains.std(ddof=1) / np.sqrt(len(gains)))
                      if len(gains) > 1 else float("nan"))
        results[int(size)] = {"without": without, "with": with_synthetic, "gain_mean": float(gains.mean()),
                              "gain_std": float(gains.std(ddof=1)) if len(gains) > 1 else 0.0,
                              "gain_ci95": [float(gains.mean() - half_width), float(gains.mean() + half_width)],
                              "positive_share": float((gains > 0).mean())}
    return {"sizes": results, "settings": {"generator": generator, "generator_params": generator_params or {},
                                           "generator_steps": generator_steps, "seeds": seeds,
                                           "synthetic_per_class": synthetic_per_class,
                                           "synthetic_share": synthetic_share,
                                           "classifier_steps": classifier_steps, "classifier": "LeNet-5"},
            "seconds": round(time.perf_counter() - started, 1)}
