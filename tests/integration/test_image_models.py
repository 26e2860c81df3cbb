"""The image generators on real MNIST digits, with few epochs: shapes, labels, seeds,
save / load, checkpoints and resume, and the DP option."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import tabsynth as ts
from tabsynth.images import DCGAN, IMAGE_MODELS, MLPGAN, ConvVAE, balanced_subset, load
from tabsynth.models import NotFittedError

FAST = {"mlp-gan": {}, "dcgan": {"width": 16}, "vae": {"width": 16}}


@pytest.fixture(scope="module")
def digits(mnist_train):
    """600 real training digits, 60 of each class."""
    return balanced_subset(mnist_train, 60, np.random.default_rng(0))


@pytest.mark.parametrize("name", list(IMAGE_MODELS))
def test_fit_sample_save_load(name, digits, tmp_path):
    model = IMAGE_MODELS[name](epochs=1, batch_size=64, random_state=0, verbose=False, **FAST[name]).fit(digits)
    images = model.sample(25, random_state=3)
    assert images.x.shape == (25, 1, 28, 28) and images.x.dtype == np.uint8
    assert images.y.tolist() == [k % 10 for k in range(25)]  # class-balanced by default
    assert len(np.unique(images.x.reshape(25, -1), axis=0)) == 25  # every draw is its own image
    sevens = model.sample(8, labels=7)
    assert (sevens.y == 7).all()
    model.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "config.json", "encoder.json", "metadata.json", "model.pt"]
    again = load(tmp_path / "model")
    assert type(again) is type(model) and again.epochs_trained_ == 1
    assert np.array_equal(again.sample(25, random_state=3).x, images.x)
    with pytest.raises(ValueError, match=r"label 10 is not a class of this model; labels run 0..9"):
        model.sample(3, labels=[1, 2, 10])
    assert type(ts.load(tmp_path / "model")) is type(model)  # tabsynth.load reads image models too


def test_unfitted_and_bad_parameters_get_clear_errors(digits):
    with pytest.raises(NotFittedError, match=r"This DCGAN is not fitted yet"):
        DCGAN().sample(4)
    with pytest.raises(ValueError, match=r"epochs must be a positive integer, got 0"):
        MLPGAN(epochs=0).fit(digits)
    with pytest.raises(ValueError, match=r"discriminator_norm='batch' mixes the images of a batch"):
        DCGAN(discriminator_norm="batch", dp=ts.DPConfig(epsilon=1.0, delta=1e-4)).fit(digits)


def test_dcgan_takes_a_generator_step_after_every_discriminator_steps(digits):
    def generator_steps(model):
        first = next(model.generator_.parameters())
        return int(model._optimizers["generator"].state[first]["step"])

    params = dict(epochs=1, batch_size=100, random_state=0, verbose=False, width=16)
    assert generator_steps(DCGAN(**params).fit(digits)) == 6  # 600 images, batches of 100
    assert generator_steps(DCGAN(discriminator_steps=3, **params).fit(digits)) == 2
    assert DCGAN(dp=ts.DPConfig(epsilon=1.0, delta=1e-4))._resolved_discriminator_steps() == 3
    with pytest.raises(ValueError, match=r"discriminator_steps must be a positive integer or 'auto', got 0"):
        DCGAN(discriminator_steps=0).fit(digits)


def test_mode_seeking_spreads_one_labels_images(digits):
    """The mode-seeking term (on by default) pushes two noises of one label apart."""
    def spread(model):
        sevens = model.sample(32, labels=7, random_state=1).x.reshape(32, -1).astype(float)
        return float(np.abs(sevens[:16] - sevens[16:]).mean())

    params = dict(epochs=1, batch_size=100, random_state=0, verbose=False, width=16)
    plain, seeking = DCGAN(mode_seeking=0, **params).fit(digits), DCGAN(mode_seeking=5.0, **params).fit(digits)
    assert seeking._resolved_mode_seeking() == 5.0 and plain._resolved_mode_seeking() == 0.0
    assert DCGAN()._resolved_mode_seeking() == 1.0  # on by default, with or without DP
    assert DCGAN(mode_seeking="auto", dp=ts.DPConfig(epsilon=1.0, delta=1e-4))._resolved_mode_seeking() == 1.0
    assert DCGAN(mode_seeking="auto")._resolved_mode_seeking() == 0.0  # earlier versions' default
    assert spread(seeking) > spread(plain)
    with pytest.raises(ValueError, match=r"mode_seeking must be a number >= 0 or 'auto', got -1"):
        DCGAN(mode_seeking=-1).fit(digits)


@pytest.mark.parametrize("cls", [ConvVAE, DCGAN])
def test_resume_continues_an_interrupted_fit_exactly(cls, digits, tmp_path):
    params = dict(batch_size=100, random_state=0, verbose=False, width=16)
    whole = cls(epochs=2, **params).fit(digits)
    cls(epochs=1, **params).fit(digits, checkpoint_dir=tmp_path / "ckpt")  # the "interrupted" run
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["epochs_trained"] == 1 and config["optimizers"]
    resumed = cls(epochs=2, **params).fit(digits, resume=tmp_path / "ckpt")
    assert resumed.epochs_trained_ == 2 and len(resumed.loss_history_) == 2
    for (name, a), (_, b) in zip(whole._networks().items(), resumed._networks().items()):
        for (key, u), (_, v) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(u, v), f"{name}.{key} differs after resume"
    with pytest.raises(ValueError, match=r"was trained on 600 images of shape \(1, 28, 28\) in 10 classes; these are "
                                         r"300"):
        cls(epochs=2, **params).fit(digits.subset(np.arange(300)), resume=tmp_path / "ckpt")
    if cls is DCGAN:  # the checkpoint records the schedule it ran with
        assert config["schedule"] == {"discriminator_steps": 1, "mode_seeking": 1.0}
        with pytest.raises(ValueError, match=r"was trained with mode_seeking=1.0 and this model resolves it to "
                                             r"0.0; resume with mode_seeking=1.0"):
            DCGAN(epochs=2, mode_seeking=0, **params).fit(digits, resume=tmp_path / "ckpt")


@pytest.mark.parametrize("cls", [ConvVAE, DCGAN])
def test_dp_fit_spends_exactly_its_budget_and_saves_no_losses(cls, digits, tmp_path):
    dp = ts.DPConfig(epsilon=2.0, delta=1e-4)
    model = cls(epochs=1, batch_size=60, random_state=0, verbose=False, width=16, dp=dp).fit(digits)
    ledger = model.privacy_
    assert 0.99 * 2.0 <= ledger["epsilon"] <= 2.0 and ledger["delta"] <= 1e-4
    assert [m["name"] for m in ledger["mechanisms"]] == ["DP-SGD"]
    sgd = ledger["mechanisms"][0]
    assert sgd["steps"] == 10 and sgd["sample_rate"] == pytest.approx(0.1)
    assert sgd["noise_multiplier"] == pytest.approx(model.noise_multiplier_)
    private = model.vae_ if cls is ConvVAE else model.discriminator_
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in private.modules())
    assert set(model.loss_history_[0]) == {"epoch", "seconds"}  # losses of raw images are not released
    model.save(tmp_path / "dp")
    assert json.loads((tmp_path / "dp" / "privacy.json").read_text())["epsilon"] == ledger["epsilon"]
    with pytest.raises(ValueError, match=r"delta=0.01 must be below 1 / rows"):
        cls(epochs=1, verbose=False, width=16, dp=ts.DPConfig(epsilon=1.0, delta=1e-2)).fit(digits)
