"""CTGAN's generator loss and its gradient with respect to the generator's raw output, by hand.

The generator's loss (Xu et al. 2019, section 4) is the critic's verdict on its
Gumbel-softmax-activated rows plus the conditional loss:

    L = -mean(D(packs of [activate(raw), cond])) + mean cross-entropy(raw in the conditioned span, category)

Everything after ``raw`` (activation, the frozen critic, the cross-entropy) has a
short closed form, so it is differentiated here by hand, without an autograd graph;
the generator network itself (residual blocks with batch normalisation) is then
back-propagated by :func:`~tabsynth.models.generator_backprop.generator_backward`. Why: on a 2-core CPU at
Adult's size the activation, critic and conditional loss took ~3 ms of a ~9.5 ms
generator step through autograd. The autograd form stays the reference
(``layout.activate``, ``Discriminator.forward``, ``losses.conditional_loss``); the tests
compare both on the same random draws.

Gradients, for a batch of B rows and P = B / pac packs:

* critic: ``dL/dpacks = -(1/P) w (s_{L-1}) W_{L-1} ... (s_0) W_0`` with the pass's slopes s_i
  (LeakyReLU derivative times dropout mask and scale), the conditional-vector columns dropped;
* activation: ``tanh`` slots ``g (1 - y^2)``; each Gumbel-softmax span
  ``y (g - sum_span(y g)) / tau`` (:meth:`SpanLayout.activation_backward`);
* conditional loss: ``(softmax(raw_span) - onehot(category)) / B`` on the conditioned span.
"""

from __future__ import annotations

import torch
from torch import nn

from tabsynth.models.layout import SpanLayout


def generator_loss_gradient(critic: nn.Module, layout: SpanLayout, raw: torch.Tensor, tau: float,
                            generator: torch.Generator, cond_one_hot: torch.Tensor | None = None,
                            conditional: tuple[torch.Tensor, ...] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The generator's loss on ``raw`` and its gradient ``dL/draw``.

    Draws, in this order: the Gumbel noise of the activation (``generator``), then the
    critic's dropout masks (``critic.noise_generator``, when the critic is training),
    as the autograd form does.

    Parameters
    ----------
    critic : tabsynth.models.ctgan.Discriminator
        Frozen: its parameters get no gradient.
    layout : SpanLayout
    raw : Tensor (B, width)
        Generator output, the layout's internal order (no gradient needed on it).
    tau : float
        Gumbel-softmax temperature.
    generator : torch.Generator
        Draws the Gumbel noise.
    cond_one_hot : Tensor (B, C) or None
        Conditional vectors, appended to the activated rows for the critic.
    conditional : tuple or None
        ``(span_index, span_mask, column, category)`` for the conditional loss, as in
        :func:`tabsynth.models.losses.conditional_loss`; None without a conditional vector.

    Returns
    -------
    loss : Tensor ()  detached
    grad : Tensor (B, width)  ``dL/draw``
    """
    with torch.no_grad():
        fake = layout.activate(raw, tau=tau, generator=generator)  # (B, width)
        rows = fake if cond_one_hot is None else torch.cat([fake, cond_one_hot], dim=1)
        packs = rows.reshape(-1, rows.shape[1] * critic.pac)  # (P, Din)
        n_packs = packs.shape[0]
        hidden, out = list(critic.hidden), critic.out
        activation, slopes = packs, []
        for layer in hidden:
            activation, slope = critic.activate(torch.addmm(layer.bias, activation, layer.weight.t()))
            slopes.append(slope)
        loss = -torch.addmm(out.bias, activation, out.weight.t()).mean()

        grad = out.weight.expand(n_packs, -1) * (-1.0 / n_packs)  # dL/d(last activation), (P, h)
        for layer, slope in zip(reversed(hidden), reversed(slopes)):
            grad = torch.mm(grad.mul_(slope), layer.weight)  # (P, h_{i-1}) or (P, Din)
        grad_rows = grad.reshape(rows.shape)[:, : raw.shape[1]]  # drop the conditional vector's columns
        raw_grad = layout.activation_backward(fake, grad_rows, tau=tau)

        if conditional is not None:
            span_index, span_mask, column, category = conditional
            index = span_index[column]  # (B, K)
            chosen = raw.gather(1, index).masked_fill_(~span_mask[column], float("-inf"))
            log_probs = torch.log_softmax(chosen, dim=1)
            rows_ = torch.arange(raw.shape[0], device=raw.device)
            loss = loss - log_probs[rows_, category].mean()
            chosen_grad = log_probs.exp_()  # padding: exp(-inf) = 0
            chosen_grad[rows_, category] -= 1.0
            raw_grad.scatter_add_(1, index, chosen_grad.div_(raw.shape[0]))
        return loss, raw_grad
