"""TVAE's negative ELBO and its gradient, derived by hand.

TVAE trains two ReLU MLPs on one loss (Xu et al. 2019, section 4.4), and every
derivative of that loss has a short closed form, so the training step computes the
gradients itself instead of recording an autograd graph. Why: on a 2-core CPU at
Adult's size (batch 500, width 164, 128 units) autograd's graph, its per-node
dispatch and its gradient buffers took ~0.7 of a 4 ms step, and the matrix products
are the same either way. The autograd form of the same loss stays in
:mod:`tabsynth.models.losses` (``tvae_reconstruction_loss``, ``kl_to_standard_normal``);
the tests check these gradients against it, and a training path that needs autograd
(per-sample gradients for DP-SGD) can use it.

Notation, for a batch of B rows (the span layout's internal order, value slots first):

* encoder ``x -> (mu, logvar)``, reparameterisation ``z = mu + eps * exp(logvar / 2)``;
* decoder ``z -> r``, the raw outputs, ``(B, width)``;
* reconstruction ``R = (1/B) [ sum (x_v - tanh r_v)^2 / (2 sigma_v^2) + B sum log sigma_v
  + sum over spans (logsumexp r_span - r at the hot slot) ]``;
* ``KL = (1/B) sum 0.5 (mu^2 + exp(logvar) - logvar - 1)``;
* loss ``L = loss_factor * R + KL``.

Gradients used below (k = loss_factor / B):
``dL/dr_v = k (tanh r_v - x_v) / sigma_v^2 * (1 - tanh^2 r_v)``;
``dL/dr_span = k (softmax(r_span) - x_span)``;
``dL/dsigma_v = (loss_factor - k sum_rows (x_v - tanh r_v)^2 / sigma_v^2) / sigma_v``;
``dL/dmu = dL/dz + mu / B``;
``dL/dlogvar = dL/dz * eps * exp(logvar / 2) / 2 + (exp(logvar) - 1) / (2B)``.
"""

from __future__ import annotations

import torch
from torch import nn

from tabsynth.models.flat_parameters import grad_buffer as _grad_of
from tabsynth.models.layout import SpanLayout

# d relu(a) / d a applied to an incoming gradient, given relu's output: the op autograd uses.
_relu_backward = torch.ops.aten.threshold_backward.default


def mlp_forward(x: torch.Tensor, layers: list[nn.Linear]) -> list[torch.Tensor]:
    """Run ``Linear -> ReLU -> ... -> Linear`` (no ReLU after the last layer) without autograd.

    Parameters
    ----------
    x : Tensor (B, layers[0].in_features)
    layers : list of nn.Linear

    Returns
    -------
    list of Tensor
        ``len(layers) + 1`` tensors: the input of each layer (post-ReLU for all but ``x``),
        then the last layer's output ``(B, layers[-1].out_features)``.
    """
    activations = [x]
    for i, layer in enumerate(layers):
        out = torch.addmm(layer.bias, activations[-1], layer.weight.t())
        activations.append(out.clamp_min_(0) if i < len(layers) - 1 else out)
    return activations


def mlp_backward(delta: torch.Tensor, activations: list[torch.Tensor], layers: list[nn.Linear],
                 *, input_gradient: bool) -> torch.Tensor | None:
    """Back-propagate ``delta`` = dL/d(last output) through :func:`mlp_forward`'s network.

    Writes ``dL/dW`` and ``dL/db`` into each layer's ``weight.grad`` and ``bias.grad``
    (overwritten, allocated when None).

    Parameters
    ----------
    delta : Tensor (B, layers[-1].out_features)
    activations : list of Tensor, as returned by :func:`mlp_forward`
    layers : list of nn.Linear
    input_gradient : bool
        Whether to return dL/dx; the first layer's input product is skipped otherwise.

    Returns
    -------
    Tensor (B, layers[0].in_features) or None
    """
    for i in range(len(layers) - 1, -1, -1):
        layer, layer_input = layers[i], activations[i]
        torch.mm(delta.t(), layer_input, out=_grad_of(layer.weight))
        torch.sum(delta, dim=0, out=_grad_of(layer.bias))
        if i == 0 and not input_gradient:
            return None
        delta = torch.mm(delta, layer.weight)
        if i > 0:
            delta = _relu_backward(delta, layer_input, 0)
    return delta


def negative_elbo_step(x: torch.Tensor, eps: torch.Tensor, encoder_layers: list[nn.Linear],
                       decoder_layers: list[nn.Linear], sigma: nn.Parameter, layout: SpanLayout,
                       loss_factor: float) -> torch.Tensor:
    """Loss terms of one batch, with every parameter's gradient written into its ``.grad``.

    Parameters
    ----------
    x : Tensor (B, width)
        Encoded rows in the layout's internal order.
    eps : Tensor (B, E)
        Standard normal noise of the reparameterisation.
    encoder_layers : list of nn.Linear
        The encoder MLP; its last layer outputs ``2E`` columns, ``[mu, logvar]``.
    decoder_layers : list of nn.Linear
        The decoder MLP, ``E -> width``.
    sigma : nn.Parameter (width,)
        Decoder scales (only the value slots ``[0, layout.n_values)`` enter the loss; the
        gradient of the others is 0).
    layout : SpanLayout
    loss_factor : float
        Weight of the reconstruction term.

    Returns
    -------
    Tensor (3,)
        ``[loss, reconstruction, kl]``, detached: ``loss = loss_factor * reconstruction + kl``.
    """
    with torch.no_grad():
        batch, n_values = x.shape[0], layout.n_values
        embedding = eps.shape[1]
        k = loss_factor / batch

        encoded = mlp_forward(x, encoder_layers)
        mu, logvar = encoded[-1][:, :embedding], encoded[-1][:, embedding:]
        std = torch.exp(0.5 * logvar)
        z = torch.addcmul(mu, eps, std)
        decoded = mlp_forward(z, decoder_layers)
        raw = decoded[-1]
        delta = torch.empty_like(raw)  # dL/d raw

        # Value slots: Gaussian around tanh(raw) with scale sigma.
        scale = sigma[:n_values]
        squashed = torch.tanh(raw[:, :n_values])
        residual = x[:, :n_values] - squashed
        inverse_variance = scale.pow(-2)
        squared_sums = residual.square().sum(dim=0)  # (V,)
        value_nll = 0.5 * torch.dot(squared_sums, inverse_variance) + batch * torch.log(scale).sum()
        # squashed is overwritten in place here: its last use.
        torch.mul(squashed.square_().sub_(1).mul_(residual), inverse_variance * k, out=delta[:, :n_values])
        sigma_grad = _grad_of(sigma)
        sigma_grad[n_values:] = 0
        torch.div(loss_factor - k * squared_sums * inverse_variance, scale, out=sigma_grad[:n_values])

        # Softmax spans: categorical cross-entropy.
        if layout.n_soft_spans:
            categorical_nll, probabilities = layout.categorical_nll_and_softmax(raw, x)
            torch.sub(probabilities, x[:, n_values:], out=delta[:, n_values:]).mul_(k)
        else:
            categorical_nll = torch.zeros((), device=x.device, dtype=x.dtype)
        reconstruction = (value_nll + categorical_nll) / batch

        variance = std.square()
        kl = (0.5 / batch) * (mu.square().add_(variance).sub_(logvar).sum()) - 0.5 * embedding

        latent_grad = mlp_backward(delta, decoded, decoder_layers, input_gradient=True)  # dL/dz
        head_grad = torch.empty_like(encoded[-1])  # [dL/dmu, dL/dlogvar]
        torch.add(latent_grad, mu, alpha=1.0 / batch, out=head_grad[:, :embedding])
        # variance is overwritten in place here (after the KL term): its last use.
        torch.addcmul(variance.sub_(1).mul_(0.5 / batch), latent_grad * eps, std, value=0.5,
                      out=head_grad[:, embedding:])
        mlp_backward(head_grad, encoded, encoder_layers, input_gradient=False)
        return torch.stack([loss_factor * reconstruction + kl, reconstruction, kl])
