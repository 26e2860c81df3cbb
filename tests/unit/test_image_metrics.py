"""The image evaluation's pure functions on real MNIST pixels: Frechet distance,
precision / recall / density / coverage, memorisation and the distance membership attack."""

from __future__ import annotations

import numpy as np
import pytest

from tabsynth.images import metrics


@pytest.fixture(scope="module")
def pixels(mnist_train, mnist_test):
    """1,000 training and 1,000 test digits as (N, 784) floats in [0, 1]."""
    rng = np.random.default_rng(0)
    train = mnist_train.x[rng.choice(60_000, 1000, replace=False)].reshape(1000, -1) / 255.0
    test = mnist_test.x[rng.choice(10_000, 1000, replace=False)].reshape(1000, -1) / 255.0
    return train, test


def test_frechet_distance_is_zero_on_itself_and_grows_with_a_shift(pixels):
    train, test = pixels
    centre = slice(400, 430)  # pixels of the digits' middle rows (the border pixels are always 0)
    assert metrics.frechet_distance(train[:, centre], train[:, centre]) == pytest.approx(0.0, abs=1e-5)
    floor = metrics.frechet_distance(train[:, centre], test[:, centre])
    assert floor > 0
    # A shift of every pixel by 0.5 adds exactly 0.5^2 per dimension.
    assert metrics.frechet_distance(test[:, centre], test[:, centre] + 0.5) == pytest.approx(0.25 * 30, rel=1e-3)
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4000, 3)), rng.normal(size=(4000, 3)) * 2.0
    # Two Gaussians N(0, I) and N(0, 4I) in 3-d: tr(I + 4I - 2 * 2I) = 3.
    assert metrics.frechet_distance(a, b) == pytest.approx(3.0, rel=0.1)


def test_prdc_of_real_against_real_and_of_a_collapsed_generator(pixels):
    train, test = pixels
    same = metrics.precision_recall_density_coverage(train, test, k=5)
    assert same["precision"] > 0.6 and same["recall"] > 0.6 and same["coverage"] > 0.6
    assert 0.6 < same["density"] < 1.4
    collapsed = np.repeat(test[:10], 100, axis=0)  # a generator that learned 10 digits
    mode = metrics.precision_recall_density_coverage(train, collapsed, k=5)
    assert mode["coverage"] < 0.1 and mode["recall"] < 0.1
    assert mode["coverage"] < same["coverage"] - 0.5


def test_memorisation_flags_copies_and_not_fresh_digits(pixels):
    train, test = pixels
    fresh = metrics.memorisation(train[:500], test[:500], test[500:])
    assert fresh["near_duplicates"] == 0 and 0.9 < fresh["median_ratio"] < 1.1 and abs(fresh["z_u"]) < 3
    copies = metrics.memorisation(train[:500], test[:500], train[:200])
    assert copies["near_duplicates"] == 200 and copies["median_ratio"] < 0.01 and copies["z_u"] < -10


def test_distance_membership_attack_sees_a_copying_generator(pixels):
    train, test = pixels
    members, non_members = train[:300], test[:300]
    assert metrics.distance_membership_auc(members, non_members, train[:300]) > 0.99  # copies of the members
    fresh = metrics.distance_membership_auc(members, non_members, test[300:])
    assert 0.4 < fresh < 0.6
