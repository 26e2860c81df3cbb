"""The image evaluation on real MNIST: the shipped reference CNN, the metrics' power on known
cases (fresh real digits vs copies of training digits), a short real fit, the augmentation gain
and the report files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tabsynth.images import ConvVAE, ImageSet, augmentation_gain, balanced_subset, evaluate
from tabsynth.images.classifiers import load_reference, predict

SMALL = dict(tstr_seeds=1, tstr_epochs=15, tstr_size=2000, eval_size=1000)


@pytest.fixture(scope="module")
def sets(mnist_train, mnist_test):
    rng = np.random.default_rng(0)
    train = balanced_subset(mnist_train, 300, rng)  # 3,000 "training" digits
    fresh = balanced_subset(mnist_test.subset(np.arange(5000)), 200, rng)  # 2,000 the "generator" never saw
    holdout = mnist_test.subset(np.arange(5000, 10_000))  # the evaluation's holdout: disjoint from both
    return train, fresh, holdout


def test_the_shipped_reference_cnn_reads_real_test_digits(mnist_test):
    model = load_reference()
    accuracy = float((predict(model, mnist_test.to_tensors()[0]) == mnist_test.y).mean())
    assert accuracy >= 0.993


def test_fresh_real_digits_score_near_the_ideals(sets, tmp_path):
    train, fresh, holdout = sets
    report = evaluate(fresh, train, holdout, **SMALL)
    assert report.value("utility.label_accuracy") > 0.99
    assert report.value("utility.tstr_accuracy") > 0.9
    assert report.value("fidelity.frechet_ratio") < 3
    assert report.value("fidelity.coverage") > 0.8
    assert report.value("privacy.near_duplicates") == 0
    assert 0.4 < report.value("privacy.membership_auc") < 0.6
    report.to_html(tmp_path / "report.html")
    report.to_json(tmp_path / "report.json")
    page = (tmp_path / "report.html").read_text()
    assert "Samples, one row per class" in page and "Membership inference AUC" in page
    assert json.loads((tmp_path / "report.json").read_text())["counts"]["synthetic"] == 2000


def test_copies_of_training_digits_are_caught(sets):
    train, _, holdout = sets
    copies = balanced_subset(train, 100, np.random.default_rng(2))  # 1,000 training digits, 100 per class
    report = evaluate(copies, train, holdout, **SMALL)
    assert report.value("privacy.near_duplicates") == 1000
    assert report.value("privacy.nn_distance_ratio") < 0.01
    assert report.value("privacy.membership_auc") > 0.6  # 1,000 of the 3,000 members are copied outright


def test_a_label_blind_generator_is_caught(sets):
    train, fresh, holdout = sets
    shuffled = ImageSet(fresh.x, np.random.default_rng(1).permutation(fresh.y))
    report = evaluate(shuffled, train, holdout, **SMALL)
    assert report.value("utility.label_accuracy") < 0.2 and report.value("utility.tstr_accuracy") < 0.3


def test_a_short_conditional_vae_draws_the_digits_it_is_asked_for(mnist_train):
    # 20,000 digits, 3 epochs (470 steps): the decoder has begun to read the class from the label
    # (the full-length fit of benchmarks/images.py is where the targets are measured).
    train = balanced_subset(mnist_train, 2000, np.random.default_rng(0))
    model = ConvVAE(epochs=3, random_state=0, verbose=False).fit(train)
    fake = model.sample(2000, random_state=0)
    accuracy = float((predict(load_reference(), fake.to_tensors()[0]) == fake.y).mean())
    assert accuracy > 0.5  # five times chance


def test_augmentation_gain_pairs_the_same_seeds(mnist_train, mnist_test):
    result = augmentation_gain(mnist_train, mnist_test.subset(np.arange(2000)), sizes=(100,), seeds=2,
                               generator_steps=60, classifier_steps=60, synthetic_per_class=50)
    row = result["sizes"][100]
    assert len(row["with"]) == len(row["without"]) == 2
    assert row["gain_mean"] == pytest.approx(np.mean(np.array(row["with"]) - np.array(row["without"])))
    assert all(0.1 < a < 1 for a in row["with"] + row["without"])  # the classifiers learned something
    assert result["settings"]["classifier"] == "LeNet-5"
    assert result["settings"]["synthetic_share"] == 0.25


@pytest.mark.parametrize("share", [0, 0.003, 0.997, 1, 1.5])
def test_augmentation_gain_refuses_a_share_that_leaves_one_kind_alone(mnist_train, mnist_test, share):
    with pytest.raises(ValueError, match=r"synthetic_share must leave real and synthetic images in each batch"):
        augmentation_gain(mnist_train, mnist_test, sizes=(100,), seeds=1, synthetic_share=share)


def test_mixed_batches_hold_the_share_and_augment_both_kinds(mnist_train):
    """Each classifier batch: 96 real + 32 synthetic images at share 0.25, all of them through
    the augmentation (the comparison with classic augmentation alone must not hinge on
    un-augmented synthetic images)."""
    from tabsynth.images.augmentation_gain import _train_mixed

    real_x, real_y = balanced_subset(mnist_train, 10, np.random.default_rng(0)).to_tensors()
    fake_x = real_x.new_full((50, *real_x.shape[1:]), 0.5)  # a value no real MNIST pixel of [-1, 1] has exactly
    fake_y = real_y.new_zeros(50)
    seen = []

    def augmenter(batch):
        seen.append(batch.clone())
        return batch

    _train_mixed(real_x, real_y, fake_x, fake_y, steps=3, seed=0, augmenter=augmenter, synthetic_share=0.25)
    assert len(seen) == 3
    for batch in seen:
        synthetic = (batch == 0.5).flatten(1).all(dim=1)
        assert len(batch) == 128 and int(synthetic.sum()) == 32
    _train_mixed(real_x, real_y, None, None, steps=2, seed=0, augmenter=augmenter)
    assert len(seen) == 5 and not (seen[-1] == 0.5).flatten(1).all(dim=1).any()  # real images alone


def test_evaluate_needs_a_holdout_it_can_trust(sets, tmp_path):
    from tabsynth.images import save_images

    train, fresh, _ = sets
    plain = save_images(train, tmp_path / "plain.npz")  # x / y only: no test split to take
    with pytest.raises(ValueError, match=r"evaluate needs holdout images the generator never saw"):
        evaluate(fresh, plain)
