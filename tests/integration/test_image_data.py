"""Reading, writing and augmenting real MNIST digits (tabsynth.images.data and .augment)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tabsynth.images import Augmenter, ImageSet, balanced_subset, load_images, save_images


def test_bundled_mnist_has_the_official_split(mnist_train, mnist_test):
    assert mnist_train.x.shape == (60_000, 1, 28, 28) and mnist_train.x.dtype == np.uint8
    assert mnist_test.x.shape == (10_000, 1, 28, 28) and mnist_test.y.dtype == np.int64
    assert np.bincount(mnist_train.y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(mnist_test.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_npz_and_png_folder_round_trip(mnist_train, tmp_path):
    digits = balanced_subset(mnist_train, 3, np.random.default_rng(0))
    save_images(digits, tmp_path / "digits.npz")
    with np.load(tmp_path / "digits.npz") as archive:
        assert archive["x"].shape == (30, 28, 28) and archive["y"].dtype == np.int64  # grey: N x H x W
    again = load_images(tmp_path / "digits.npz")
    assert np.array_equal(again.x, digits.x) and np.array_equal(again.y, digits.y)

    folder = save_images(digits, tmp_path / "pngs")
    assert sorted(p.name for p in folder.iterdir()) == [str(k) for k in range(10)] + ["labels.csv"]
    lines = (folder / "labels.csv").read_text().splitlines()
    assert lines[0] == "file,label" and len(lines) == 31 and lines[1].split(",")[1] == str(digits.y[0])
    from_pngs = load_images(folder)
    order = np.argsort(digits.y, kind="stable")  # the folder is read class by class
    assert np.array_equal(from_pngs.x, digits.x[order]) and np.array_equal(from_pngs.y, digits.y[order])


def test_colour_npz_keeps_its_channels(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (4, 3, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "colour.npz", x=x, y=np.array([0, 1, 1, 0]))
    images = load_images(tmp_path / "colour.npz")
    assert images.image_shape == (3, 8, 8) and images.n_classes == 2
    loaded = load_images(save_images(images, tmp_path / "colour_pngs"))
    assert loaded.image_shape == (3, 8, 8)


def test_bad_inputs_are_refused_with_the_file_named(tmp_path, mnist_train):
    (tmp_path / "table.csv").write_text("a\n1\n")
    with pytest.raises(ValueError, match=r"Cannot read images from '.*table.csv': give a .npz file"):
        load_images(tmp_path / "table.csv")
    np.savez(tmp_path / "floats.npz", x=np.zeros((2, 4, 4), dtype=np.float32), y=np.array([0, 1]))
    with pytest.raises(ValueError, match=r"floats.npz': array 'x' is float32; images must be uint8"):
        load_images(tmp_path / "floats.npz")
    np.savez(tmp_path / "other.npz", pixels=np.zeros((2, 4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"holds arrays \['pixels'\]; tabsynth reads 'x' and 'y'"):
        load_images(tmp_path / "other.npz")
    np.savez(tmp_path / "short.npz", x=np.zeros((3, 4, 4), dtype=np.uint8), y=np.array([0, 1]))
    with pytest.raises(ValueError, match=r"array 'y' must hold one non-negative integer label per image \(3 images\)"):
        load_images(tmp_path / "short.npz")
    bad = tmp_path / "folder"
    (bad / "seven").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"Class folder '.*seven' is not named by a non-negative integer label"):
        load_images(bad)
    with pytest.raises(FileNotFoundError, match=r"Image data '.*missing.npz' does not exist"):
        load_images(tmp_path / "missing.npz")
    digits = mnist_train.subset(np.arange(4))
    target = tmp_path / "taken"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match=r"'.*taken' exists and is not an empty folder"):
        save_images(digits, target)
    assert (target / "mine.txt").read_text() == "keep me"


def test_augmenter_is_seeded_keeps_the_range_and_leaves_global_rng_alone(mnist_train):
    x, _ = mnist_train.subset(np.arange(64)).to_tensors()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = Augmenter(random_state=7)(x)
    after = torch.rand(1)
    assert torch.equal(before, after)  # the pipeline drew nothing from torch's global generator
    assert torch.equal(first, Augmenter(random_state=7)(x))
    assert not torch.equal(first, Augmenter(random_state=8)(x))
    assert first.shape == x.shape and first.min() >= -1 and first.max() <= 1
    changed = (first - x).abs().flatten(1).mean(1)
    assert (changed > 0.01).all()  # every digit moved
    # The digits stay digits: ink mass (sum of levels above background) is roughly kept.
    ink = ((x + 1) / 2).flatten(1).sum(1)
    ink_after = ((first + 1) / 2).flatten(1).sum(1)
    assert ((ink_after / ink - 1).abs().median() < 0.35)


def test_augmenter_with_every_operation_off_is_the_identity(mnist_train):
    x, _ = mnist_train.subset(np.arange(16)).to_tensors()
    identity = Augmenter(rotation=0, scale=(1, 1), translate=0, elastic_alpha=0, noise_std=0, random_state=0)
    assert torch.allclose(identity(x), x, atol=1e-5)
    with pytest.raises(ValueError, match=r"scale must be \(low, high\) with 0 < low <= high"):
        Augmenter(scale=(1.2, 0.8))


def test_image_set_checks_its_arrays():
    with pytest.raises(ValueError, match=r"ImageSet.x must be a uint8 array of shape \(N, C, H, W\)"):
        ImageSet(np.zeros((2, 28, 28), dtype=np.uint8), np.array([0, 1]))
