"""TVAE's hand-written ELBO gradient, and the flat parameter buffer its optimiser steps on.

The reference is autograd on the loss functions of ``tabsynth.models.losses`` (the
textbook form of TVAE's loss), on real encoded rows: Adult (value slots and softmax
spans), and Adult's categorical columns alone (no value slot at all).
"""

from __future__ import annotations

import copy

import pytest
import torch

from tabsynth import Metadata
from tabsynth.encoding import TableEncoder
from tabsynth.models.elbo import negative_elbo_step
from tabsynth.models.flat_parameters import FlatParameters
from tabsynth.models.layout import SpanLayout
from tabsynth.models.losses import kl_to_standard_normal, tvae_reconstruction_loss
from tabsynth.models.tvae import Decoder, Encoder, TVAENetworkConfig

CATEGORICAL_ONLY = ["workclass", "education", "marital-status", "occupation", "relationship", "race", "sex"]


def _encoded(frame):
    encoder = TableEncoder(Metadata.infer(frame), random_state=0).fit(frame)
    layout = SpanLayout(encoder.spans_, encoder.width_, torch.device("cpu"))
    rows = layout.to_internal(torch.as_tensor(encoder.transform(frame[:400]), dtype=torch.float32))
    return layout, rows


@pytest.fixture(scope="module")
def adult_rows(adult_train):
    return _encoded(adult_train.sample(3000, random_state=1))


@pytest.fixture(scope="module")
def adult_categorical_rows(adult_train):
    return _encoded(adult_train[CATEGORICAL_ONLY].sample(3000, random_state=1))


def _networks(width, embedding, compress, decompress, seed):
    torch.manual_seed(seed)
    config = TVAENetworkConfig(data_width=width, embedding_dim=embedding, compress_dims=compress,
                               decompress_dims=decompress)
    encoder, decoder = Encoder(config), Decoder(config)
    with torch.no_grad():  # away from the initial 0.1 so each scale's gradient differs
        decoder.sigma.uniform_(0.05, 0.8)
    return encoder, decoder


def _autograd_reference(encoder, decoder, rows, eps, layout, loss_factor):
    mu, logvar = encoder(rows)
    z = mu + eps * torch.exp(0.5 * logvar)
    reconstruction = tvae_reconstruction_loss(decoder(z), rows, decoder.sigma, layout)
    kl = kl_to_standard_normal(mu, logvar)
    loss = loss_factor * reconstruction + kl
    loss.backward()
    grads = [p.grad.clone() for p in [*encoder.parameters(), *decoder.parameters()]]
    return torch.stack([loss, reconstruction, kl]).detach(), grads


@pytest.mark.parametrize("table", ["adult_rows", "adult_categorical_rows"])
@pytest.mark.parametrize(("embedding", "compress", "decompress", "loss_factor"), [
    (128, (128, 128), (128, 128), 2.0),  # TVAE's defaults
    (16, (64,), (32, 48), 0.5),
    (8, (), (), 1.0),  # no hidden layer: encoder and decoder are one linear map each
    (32, (40, 24, 16), (20,), 3.0),
])
def test_hand_written_gradient_matches_autograd(request, table, embedding, compress, decompress, loss_factor):
    layout, rows = request.getfixturevalue(table)
    encoder, decoder = _networks(layout.width, embedding, compress, decompress, seed=len(compress))
    eps = torch.randn(rows.shape[0], embedding, generator=torch.Generator().manual_seed(2))
    expected_terms, expected_grads = _autograd_reference(copy.deepcopy(encoder), copy.deepcopy(decoder),
                                                         rows, eps, layout, loss_factor)

    terms = negative_elbo_step(rows, eps, encoder.linears(), decoder.linears(), decoder.sigma, layout,
                               loss_factor)

    torch.testing.assert_close(terms, expected_terms, rtol=1e-5, atol=1e-5)
    params = [*encoder.parameters(), *decoder.parameters()]
    assert len(params) == len(expected_grads)
    for param, expected in zip(params, expected_grads):
        scale = expected.abs().max().clamp_min(1e-6)
        torch.testing.assert_close(param.grad / scale, expected / scale, rtol=0, atol=2e-5)
    if layout.n_values == 0:
        assert not decoder.sigma.grad.any()  # no value slot: no scale enters the loss


def test_gradient_overwrites_the_buffers_it_is_given(adult_rows):
    """Training reuses the gradient buffers: a second call must not accumulate into them."""
    layout, rows = adult_rows
    encoder, decoder = _networks(layout.width, 16, (32,), (32,), seed=0)
    eps = torch.randn(rows.shape[0], 16, generator=torch.Generator().manual_seed(0))
    args = (rows, eps, encoder.linears(), decoder.linears(), decoder.sigma, layout, 2.0)
    negative_elbo_step(*args)
    first = [p.grad.clone() for p in [*encoder.parameters(), *decoder.parameters()]]
    negative_elbo_step(*args)
    for param, grad in zip([*encoder.parameters(), *decoder.parameters()], first):
        assert torch.equal(param.grad, grad)


def test_flat_parameters_are_views_and_adam_on_them_is_adam_on_each(adult_rows):
    layout, rows = adult_rows
    separate = list(_networks(layout.width, 16, (32,), (24,), seed=3))
    flat_nets = copy.deepcopy(separate)
    flat = FlatParameters(flat_nets)
    for a, b in zip([p for m in separate for p in m.parameters()], flat.tensors):
        assert torch.equal(a, b)
        assert b.data_ptr() % 64 == 0  # aligned like a tensor of its own
        assert b.untyped_storage().data_ptr() == flat.parameter.untyped_storage().data_ptr()
        assert b.grad.untyped_storage().data_ptr() == flat.parameter.grad.untyped_storage().data_ptr()

    separate_params = [p for m in separate for p in m.parameters()]
    opt_separate = torch.optim.Adam(separate_params, lr=1e-2, weight_decay=1e-5)
    opt_flat = torch.optim.Adam([flat.parameter], lr=1e-2, weight_decay=1e-5)
    generator = torch.Generator().manual_seed(4)
    for _ in range(5):
        eps = torch.randn(rows.shape[0], 16, generator=generator)
        for nets in (separate, flat_nets):
            negative_elbo_step(rows, eps, nets[0].linears(), nets[1].linears(), nets[1].sigma, layout, 2.0)
        opt_separate.step()
        opt_flat.step()
    for a, b in zip(separate_params, flat.tensors):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    padding = torch.ones_like(flat.parameter, dtype=torch.bool)
    for p in flat.tensors:
        start = (p.data_ptr() - flat.parameter.data_ptr()) // p.element_size()
        padding[start : start + p.numel()] = False
    assert not flat.parameter.detach()[padding].any()  # padding stays 0 under Adam

    flat.unflatten()
    for p in flat.tensors:
        assert p.grad is None
        assert p.untyped_storage().data_ptr() != flat.parameter.untyped_storage().data_ptr()


def test_flat_parameters_refuse_mixed_dtypes():
    with pytest.raises(ValueError, match="one device and dtype"):
        FlatParameters([torch.nn.Linear(3, 2), torch.nn.Linear(2, 2).double()])
    with pytest.raises(ValueError, match="at least one parameter"):
        FlatParameters([torch.nn.ReLU()])
