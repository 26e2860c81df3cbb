"""CTGAN's networks and losses, each defined once and differentiated by autograd.

* the generator looks up the conditional vector's weight rows instead of multiplying by a
  one-hot vector: the same function as a linear layer on the concatenated one-hot;
* the critic's first layer looks up one-hot conditional vectors too, the same function as a
  dense product, and it scores each PacGAN pack from that pack's rows only, so one pass over
  real and fake packs equals two passes;
* the WGAN-GP penalty takes each pack's input gradient with respect to the whole pack
  (checked against a pack-by-pack computation, and against the closed form of a linear critic);
* the conditional loss reads each category span in the networks' internal column order.

Sizes are those of the Adult table (about 160 encoded columns, a conditional vector of about 120 slots).
"""

from __future__ import annotations

import pytest
import torch

from tabsynth.models.ctgan.losses import conditional_loss, gradient_penalty
from tabsynth.models.ctgan.networks import CTGANNetworkConfig, ConditionedLinear, Discriminator, Generator

ADULT = CTGANNetworkConfig(data_width=162, cond_width=120, embedding_dim=128, generator_dims=(256, 256),
                           discriminator_dims=(256, 256), pac=10)


def test_conditioned_linear_equals_a_linear_layer_on_the_concatenated_one_hot():
    torch.manual_seed(0)
    layer = ConditionedLinear(384, 120, 256)
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


def _critic(rows, hidden=(256, 256), **kwargs):
    """A critic for the fixture's widths."""
    real, _, _, _ = rows
    width, cond_width = real[0].shape[1], real[1].shape[1]
    return Discriminator(CTGANNetworkConfig(width, cond_width, 128, (256,), hidden, 10), **kwargs)


def test_conditional_lookup_equals_the_dense_first_layer(adult_critic_rows):
    """The critic's first layer: one-hot conditional vectors looked up give the scores of the same
    vectors multiplied densely, and of one Linear over each pack's concatenated rows."""
    real, _, real_index, _ = adult_critic_rows
    rows, one_hot = real
    critic = _critic(adult_critic_rows).eval()
    torch.testing.assert_close(critic(rows, real_index), critic(rows, one_hot), rtol=1e-5, atol=1e-6)
    first = critic.first
    dense = torch.nn.Linear(first.data.in_features + first.cond.shape[0], first.data.out_features)
    with torch.no_grad():
        dense.weight.copy_(torch.cat([first.data.weight, first.cond.T], dim=1))
        dense.bias.copy_(first.data.bias)
    packs = torch.cat([rows.reshape(50, -1), one_hot.reshape(50, -1)], dim=1)
    torch.testing.assert_close(first(rows, real_index), dense(packs), rtol=1e-5, atol=1e-5)


def test_critic_scores_each_pack_from_its_own_rows(adult_critic_rows):
    """One pass over real then fake packs gives each pack the score of a pass on it alone."""
    (real, _), (fake, _), real_index, fake_index = adult_critic_rows
    critic = _critic(adult_critic_rows).eval()
    together = critic(torch.cat([real, fake]), torch.cat([real_index, fake_index]))
    assert together.shape == (100, 1)
    separately = torch.cat([critic(real, real_index), critic(fake, fake_index)])
    torch.testing.assert_close(together, separately, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(critic(real[:10], real_index[:10]), together[:1], rtol=1e-5, atol=1e-6)


def test_dropout_masks_come_from_the_models_generator(adult_critic_rows):
    (real, _), _, real_index, _ = adult_critic_rows
    critic = _critic(adult_critic_rows).train()
    critic.set_noise_generator(torch.Generator().manual_seed(5))
    first = critic(real, real_index)
    critic.set_noise_generator(torch.Generator().manual_seed(5))
    torch.testing.assert_close(critic(real, real_index), first)
    assert not torch.equal(critic(real, real_index), first)  # the stream advanced: new masks
    critic.eval()
    torch.testing.assert_close(critic(real, real_index), critic(real, real_index))  # eval mode: no dropout


def _pack_by_pack_penalty(critic, real, fake, pac, generator):
    """The penalty computed one pack at a time, on each pack's concatenated rows and conditional
    vectors as a single input."""
    packs = real[0].shape[0] // pac
    alpha = torch.rand((packs, 1, 1), generator=generator)
    width = real[0].shape[1]
    terms = []
    for p in range(packs):
        rows = slice(p * pac, (p + 1) * pac)
        whole = [torch.cat([r[rows], c[rows]], dim=1) for r, c in (real, fake)]
        mixed = (alpha[p] * whole[0] + (1 - alpha[p]) * whole[1]).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(mixed[:, :width], mixed[:, width:]).sum(), mixed, create_graph=True)
        terms.append((grad.norm() - 1) ** 2)
    return 10.0 * torch.stack(terms).mean()


@pytest.mark.parametrize("hidden", [(256, 256), (64,), ()])
def test_gradient_penalty_takes_each_packs_whole_input_gradient(adult_critic_rows, hidden):
    real, fake, _, _ = adult_critic_rows
    critic = _critic(adult_critic_rows, hidden).eval()  # no dropout: both computations see one function
    got = gradient_penalty(critic, real, fake, 10, torch.Generator().manual_seed(3))
    got.backward()
    grads = {n: p.grad for n, p in critic.named_parameters()}
    critic.zero_grad(set_to_none=True)
    reference = _pack_by_pack_penalty(critic, real, fake, 10, torch.Generator().manual_seed(3))
    reference.backward()
    torch.testing.assert_close(got, reference.detach(), rtol=1e-5, atol=1e-6)
    for name, param in critic.named_parameters():
        if param.grad is None:  # a bias the input gradient does not depend on
            assert grads[name] is None and name.endswith("bias"), name
        else:
            torch.testing.assert_close(grads[name], param.grad, rtol=1e-4, atol=1e-7)
    assert grads["first.data.weight"] is not None and float(grads["first.data.weight"].abs().max()) > 0


def test_gradient_penalty_of_a_linear_critic_is_its_weights_norm(adult_critic_rows):
    """A critic without hidden layers has a constant input gradient, the first layer's weights:
    the penalty is 10 (||w|| - 1)^2."""
    real, fake, _, _ = adult_critic_rows
    critic = _critic(adult_critic_rows, hidden=())
    weights = torch.cat([critic.first.data.weight.reshape(-1), critic.first.cond.reshape(-1)])
    got = gradient_penalty(critic, real, fake, 10, torch.Generator().manual_seed(0))
    torch.testing.assert_close(got, 10.0 * (weights.norm() - 1) ** 2)


@pytest.fixture(scope="module")
def adult_critic_rows(adult_train):
    """Critic inputs from real Adult rows: two sets of 500 encoded rows (internal order) each with
    its conditional vectors drawn by training-by-sampling, as ``(rows, one-hot)`` pairs, and the
    two sets' hot slots."""
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
    rows = data[sampler.sample_rows(column, category, generator)]
    assert rows.shape == (1000, encoder.width_) and sampler.width > 100  # 118 category slots
    one_hot = sampler.one_hot(index)
    return (rows[:500], one_hot[:500]), (rows[500:], one_hot[500:]), index[:500], index[500:]


def test_conditional_loss_reads_each_category_span_in_the_internal_order(adult_train):
    """The sampler's span index, given the layout's positions, points at the same logits in the
    generator's (internal-order) output as the matrix-order spans do in matrix order."""
    from tabsynth import Metadata
    from tabsynth.encoding import TableEncoder
    from tabsynth.models.conditional import ConditionalSampler
    from tabsynth.models.layout import SpanLayout

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




def test_weight_average_warms_up_and_tracks_the_network():
    """The generator's exponential moving average: the first update copies, early updates move
    fast (decay (1 + t) / (10 + t)), later ones at most ``decay``; buffers are averaged too."""
    from tabsynth.models.training import exponential_moving_average

    torch.manual_seed(0)
    generator = Generator(CTGANNetworkConfig(20, 0, 8, (16,), (16,), 1))
    average = exponential_moving_average(generator, 0.999)
    weight = lambda m: m.out.dense.weight.detach().clone()  # noqa: E731
    average.update_parameters(generator)
    torch.testing.assert_close(weight(average.module), weight(generator))  # first update: a copy
    before = weight(average.module)
    with torch.no_grad():
        generator.out.dense.weight.add_(1.0)
    average.update_parameters(generator)  # t = 1: decay 2 / 11, so 9 / 11 of the step is taken
    torch.testing.assert_close(weight(average.module), before + 9 / 11)
    generator.train()(torch.randn(64, 8), None)  # batch-norm statistics move in the network ...
    average.update_parameters(generator)
    running = generator.blocks[0].bn.running_mean
    assert not torch.equal(average.module.blocks[0].bn.running_mean, torch.zeros_like(running))  # ... and follow
    assert int(average.module.blocks[0].bn.num_batches_tracked) == 1
