"""CTGAN's networks compute the paper's functions by cheaper routes; these tests pin the equality.

* the generator looks up the conditional vector's weight rows instead of multiplying
  by a one-hot vector;
* the WGAN-GP penalty takes the critic's input gradient in closed form instead of by
  double backpropagation, and interpolates the real and fake packs' first-layer
  pre-activations instead of running the first layer on interpolated packs;
* the critic's whole update (Wasserstein term and penalty) has hand-written gradients,
  checked against autograd with double backpropagation on real Adult critic inputs;
* so do the generator's loss and the generator network itself (residual blocks with
  batch normalisation), checked against autograd.

Sizes are those of the Adult table (162 encoded columns, a 120-slot conditional vector).
"""

from __future__ import annotations

import pytest
import torch

from tabsynth.models.ctgan import CTGANNetworkConfig, Discriminator, Generator, _ConditionedLinear
from tabsynth.models.losses import gradient_penalty

ADULT = CTGANNetworkConfig(data_width=162, cond_width=120, embedding_dim=128, generator_dims=(256, 256),
                           discriminator_dims=(256, 256), pac=10)


def test_conditioned_linear_equals_a_linear_layer_on_the_concatenated_one_hot():
    torch.manual_seed(0)
    layer = _ConditionedLinear(384, 120, 256)
    dense = torch.nn.Linear(384 + 120, 256)
    with torch.no_grad():
        dense.weight.copy_(torch.cat([layer.dense.weight, layer.cond.T], dim=1))
        dense.bias.copy_(layer.dense.bias)
    x, hot = torch.randn(500, 384), torch.randint(120, (500,))
    one_hot = torch.nn.functional.one_hot(hot, 120).float()
    torch.testing.assert_close(layer(x, hot), dense(torch.cat([x, one_hot], dim=1)), rtol=1e-5, atol=1e-5)
    # Initialised like nn.Linear(504, 256): uniform within 1/sqrt(504).
    bound = 1 / 504**0.5
    assert all(float(p.detach().abs().max()) <= bound for p in layer.parameters())
    assert float(layer.cond.detach().abs().max()) > 0.9 * bound


def test_generator_output_shape_with_and_without_conditions():
    generator = Generator(ADULT)
    assert generator(torch.randn(50, 128), torch.randint(120, (50,))).shape == (50, 162)
    no_cond = Generator(CTGANNetworkConfig(162, 0, 128, (256, 256), (256, 256), 10))
    assert no_cond(torch.randn(50, 128), None).shape == (50, 162)


def _double_backprop_penalty(critic, real, fake, pac, generator):
    """The textbook WGAN-GP: autograd.grad with create_graph, as in the paper's code."""
    batch, width = real.shape
    alpha = torch.rand((batch // pac, 1, 1), generator=generator).expand(-1, pac, width).reshape(batch, width)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grads,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return 10.0 * ((grads.reshape(batch // pac, -1).norm(2, dim=1) - 1) ** 2).mean()


@pytest.mark.parametrize("hidden, dropout, training", [
    ((256, 256), 0.5, True),   # CTGAN's critic, as trained
    ((256, 256), 0.5, False),  # eval mode: no dropout masks
    ((64,), 0.3, True),
    ((64, 64, 64), 0.0, True),
    ((), 0.5, True),           # no hidden layer: a linear critic
])
def test_closed_form_gradient_penalty_equals_double_backprop(hidden, dropout, training):
    torch.manual_seed(1)
    config = CTGANNetworkConfig(data_width=162, cond_width=120, embedding_dim=128, generator_dims=(256, 256),
                                discriminator_dims=hidden, pac=10)
    critic = Discriminator(config, dropout=dropout).train(training)
    real, fake = torch.rand(500, 282), torch.rand(500, 282)
    # First-layer pre-activations as training keeps them from the critic pass (whose own
    # dropout masks come from another generator here).
    critic.noise_generator = torch.Generator().manual_seed(99)
    _, first = critic.scores_and_first_preactivation(torch.cat([fake, real]))
    fake_first, real_first = first.chunk(2)
    # The same generator seed draws the same mixing weights and dropout masks in both.
    critic.noise_generator = torch.Generator().manual_seed(7)
    closed = gradient_penalty(critic, real_first, fake_first, torch.Generator().manual_seed(3))
    closed.backward()
    closed_grads = {n: p.grad.clone() for n, p in critic.named_parameters() if p.grad is not None}
    critic.zero_grad(set_to_none=True)
    critic.noise_generator = torch.Generator().manual_seed(7)
    reference = _double_backprop_penalty(critic, real, fake, 10, torch.Generator().manual_seed(3))
    reference.backward()
    torch.testing.assert_close(closed, reference.detach(), rtol=1e-5, atol=1e-6)
    for name, param in critic.named_parameters():
        if name.endswith("bias"):  # the input gradient does not depend on biases (almost everywhere)
            assert name not in closed_grads and (param.grad is None or float(param.grad.abs().max()) == 0.0)
        else:
            torch.testing.assert_close(closed_grads[name], param.grad, rtol=1e-4, atol=1e-7)


def test_conditional_loss_reads_each_category_span_in_the_internal_order(adult_train):
    """The sampler's span index, given the layout's positions, points at the same logits in the
    generator's (internal-order) output as the matrix-order spans do in matrix order."""
    from tabsynth import Metadata
    from tabsynth.encoding import TableEncoder
    from tabsynth.models.conditional import ConditionalSampler
    from tabsynth.models.layout import SpanLayout
    from tabsynth.models.losses import conditional_loss

    frame = adult_train.sample(3000, random_state=0)
    encoder = TableEncoder(Metadata.infer(frame), random_state=0).fit(frame)
    layout = SpanLayout(encoder.spans_, encoder.width_, torch.device("cpu"))
    data = layout.to_internal(torch.as_tensor(encoder.transform(frame)))
    sampler = ConditionalSampler(encoder.spans_, data, torch.device("cpu"), layout.position)
    generator = torch.Generator().manual_seed(0)
    column, category, index = sampler.sample_train(500, generator)
    # Rows drawn for each (column, category) hold that category, read in matrix order.
    rows = layout.to_matrix(data[sampler.sample_rows(column, category, generator)])
    for k in range(500):
        span = sampler.spans[int(column[k])]
        assert int(rows[k, span.start : span.stop].argmax()) == int(category[k])
    # The loss on internal-order logits equals the per-row cross-entropy over the matrix-order span.
    logits = torch.randn(500, encoder.width_, generator=generator)
    got = conditional_loss(layout.to_internal(logits), sampler.span_index, sampler.span_mask, column, category)
    expected = torch.stack([
        torch.nn.functional.cross_entropy(logits[k, sampler.spans[int(c)].start : sampler.spans[int(c)].stop],
                                          category[k])
        for k, c in enumerate(column)
    ]).mean()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(sampler.one_hot(index).argmax(dim=1), index)


@pytest.fixture(scope="module")
def adult_critic_rows(adult_train):
    """Critic inputs from real Adult rows: two sets of 500 encoded rows (internal order) with
    conditional vectors drawn by training-by-sampling, (500, width + cond width) each, and
    those two widths."""
    from tabsynth import Metadata
    from tabsynth.encoding import TableEncoder
    from tabsynth.models.conditional import ConditionalSampler
    from tabsynth.models.layout import SpanLayout

    frame = adult_train.sample(3000, random_state=2)
    encoder = TableEncoder(Metadata.infer(frame), random_state=0).fit(frame)
    layout = SpanLayout(encoder.spans_, encoder.width_, torch.device("cpu"))
    data = layout.to_internal(torch.as_tensor(encoder.transform(frame), dtype=torch.float32))
    sampler = ConditionalSampler(encoder.spans_, data, torch.device("cpu"), layout.position)
    generator = torch.Generator().manual_seed(0)
    column, category, index = sampler.sample_train(1000, generator)
    rows = torch.cat([data[sampler.sample_rows(column, category, generator)], sampler.one_hot(index)], dim=1)
    assert rows.shape == (1000, encoder.width_ + sampler.width)
    return rows[:500], rows[500:], encoder.width_, sampler.width


@pytest.mark.parametrize("hidden, dropout, training", [
    ((256, 256), 0.5, True),   # CTGAN's critic, as trained
    ((256, 256), 0.5, False),
    ((64,), 0.3, True),
    ((64, 64, 64), 0.0, True),
    ((), 0.5, True),
])
def test_hand_written_critic_step_equals_autograd_with_double_backprop(adult_critic_rows, hidden, dropout,
                                                                       training):
    """``critic_step_gradients`` against the textbook loss: critic pass plus double-backprop penalty."""
    import copy

    from tabsynth.models.wgan_gp import critic_step_gradients

    real, fake, data_width, cond_width = adult_critic_rows
    torch.manual_seed(2)
    config = CTGANNetworkConfig(data_width=data_width, cond_width=cond_width, embedding_dim=128,
                                generator_dims=(256, 256), discriminator_dims=hidden, pac=10)
    critic = Discriminator(config, dropout=dropout).train(training)
    reference = copy.deepcopy(critic)
    # Same seeds: the same pass masks, mixing weights and penalty masks, drawn in the same order.
    reference.noise_generator = torch.Generator().manual_seed(7)
    scores = reference(torch.cat([fake, real]))
    wasserstein = scores[:50].mean() - scores[50:].mean()
    penalty = _double_backprop_penalty(reference, real, fake, 10, torch.Generator().manual_seed(3))
    (wasserstein + penalty).backward()

    critic.noise_generator = torch.Generator().manual_seed(7)
    for _ in range(2):  # the second call overwrites the gradients, it does not accumulate
        terms = critic_step_gradients(critic, fake, real, torch.Generator().manual_seed(3))
        critic.noise_generator = torch.Generator().manual_seed(7)

    torch.testing.assert_close(terms, torch.stack([wasserstein, penalty]).detach(), rtol=1e-5, atol=1e-6)
    assert float(penalty.detach()) > 0.1  # a penalty far from 0 gives every weight a real gradient to compare
    for (name, expected), got in zip(reference.named_parameters(), critic.parameters()):
        expected = expected.grad if expected.grad is not None else torch.zeros_like(got)
        scale = float(expected.abs().max()) or 1.0
        torch.testing.assert_close(got.grad / scale, expected / scale, rtol=0, atol=2e-6, msg=name)


@pytest.mark.parametrize("hidden, conditioned", [((256, 256), True), ((64,), True), ((256, 256), False), ((), True)])
def test_hand_written_generator_loss_gradient_equals_autograd(adult_train, hidden, conditioned):
    """``generator_loss_gradient`` against autograd through activate, the critic and the conditional loss."""
    from tabsynth import Metadata
    from tabsynth.encoding import TableEncoder
    from tabsynth.models.conditional import ConditionalSampler
    from tabsynth.models.generator_loss import generator_loss_gradient
    from tabsynth.models.layout import SpanLayout
    from tabsynth.models.losses import conditional_loss

    frame = adult_train.sample(3000, random_state=3)
    encoder = TableEncoder(Metadata.infer(frame), random_state=0).fit(frame)
    layout = SpanLayout(encoder.spans_, encoder.width_, torch.device("cpu"))
    data = layout.to_internal(torch.as_tensor(encoder.transform(frame), dtype=torch.float32))
    sampler = ConditionalSampler(encoder.spans_, data, torch.device("cpu"), layout.position)
    column, category, index = sampler.sample_train(500, torch.Generator().manual_seed(0))
    cond_width = sampler.width if conditioned else 0
    torch.manual_seed(4)
    config = CTGANNetworkConfig(data_width=encoder.width_, cond_width=cond_width, embedding_dim=128,
                                generator_dims=(256, 256), discriminator_dims=hidden, pac=10)
    critic = Discriminator(config).train()
    # Raw outputs of an untrained generator on real conditional vectors, scaled to a trained one's range.
    raw = Generator(config)(torch.randn(500, 128), index if conditioned else None).detach() * 20
    one_hot = sampler.one_hot(index) if conditioned else None
    conditional = (sampler.span_index, sampler.span_mask, column, category) if conditioned else None

    reference_raw = raw.clone().requires_grad_(True)
    critic.noise_generator = torch.Generator().manual_seed(6)  # the Gumbel noise and dropout masks: one generator
    fake = layout.activate(reference_raw, tau=0.2, generator=critic.noise_generator)
    critic_in = fake if one_hot is None else torch.cat([fake, one_hot], dim=1)
    reference = -critic(critic_in).mean()
    if conditioned:
        reference = reference + conditional_loss(reference_raw, *conditional)
    reference.backward()

    critic.zero_grad(set_to_none=True)
    critic.noise_generator = torch.Generator().manual_seed(6)
    loss, grad = generator_loss_gradient(critic, layout, raw, 0.2, critic.noise_generator, one_hot, conditional)

    torch.testing.assert_close(loss, reference.detach(), rtol=1e-5, atol=1e-6)
    scale = float(reference_raw.grad.abs().max())
    assert scale > 0
    torch.testing.assert_close(grad / scale, reference_raw.grad / scale, rtol=0, atol=1e-5)
    assert all(p.grad is None for p in critic.parameters())  # the critic is frozen


@pytest.mark.parametrize("generator_dims, conditioned", [
    ((256, 256), True),   # CTGAN's generator on Adult
    ((256, 256), False),  # a table without categorical columns: no conditional vector
    ((64, 32, 16), True),
    ((), True),           # no residual block: the output layer alone
])
def test_hand_written_generator_backprop_equals_autograd(adult_critic_rows, generator_dims, conditioned):
    """``generator_forward`` / ``generator_backward`` against the module's autograd forward: the
    same raw outputs, parameter gradients and batch-norm running statistics, over two steps."""
    import copy

    from tabsynth.models.generator_backprop import generator_backward, generator_forward

    real, _, data_width, cond_width = adult_critic_rows
    # Real conditional vectors: the hot slot of each training-by-sampling draw.
    cond_index = real[:, data_width:].argmax(dim=1) if conditioned else None
    config = CTGANNetworkConfig(data_width=data_width, cond_width=cond_width if conditioned else 0,
                                embedding_dim=128, generator_dims=generator_dims, discriminator_dims=(256, 256),
                                pac=10)
    torch.manual_seed(5)
    reference = Generator(config).train()
    generator = copy.deepcopy(reference)
    for step in range(2):  # the second step must overwrite the gradients and update running statistics again
        noise = torch.randn(500, 128)
        # A gradient with the structure of a real one: pull the outputs toward real encoded rows.
        expected_raw = reference(noise, cond_index)
        raw_grad = (expected_raw.detach() - real[:, :data_width]) / 500
        reference.zero_grad(set_to_none=True)
        expected_raw.backward(raw_grad)
        raw, forward_pass = generator_forward(generator, noise, cond_index)
        generator_backward(generator, forward_pass, raw_grad)
        torch.testing.assert_close(raw, expected_raw.detach(), rtol=1e-5, atol=1e-5)
        for (name, expected), got in zip(reference.named_parameters(), generator.parameters()):
            # Unconditioned, the (0, out) conditional rows get no gradient from autograd, an empty one here.
            expected = expected.grad if expected.grad is not None else torch.zeros_like(got)
            scale = float(expected.abs().max()) if expected.numel() else 1.0
            torch.testing.assert_close(got.grad / (scale or 1.0), expected / (scale or 1.0), rtol=0, atol=1e-5,
                                       msg=name)
    for (name, expected), got in zip(reference.named_buffers(), generator.buffers()):
        torch.testing.assert_close(got, expected, msg=name)
    assert not raw.requires_grad  # no autograd graph was recorded


def test_generator_forward_refuses_eval_mode_and_single_rows():
    from tabsynth.models.generator_backprop import generator_forward

    generator = Generator(ADULT)
    with pytest.raises(ValueError, match="at least 2 rows"):
        generator_forward(generator, torch.randn(1, 128), torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="training pass"):
        generator_forward(generator.eval(), torch.randn(10, 128), torch.zeros(10, dtype=torch.long))
