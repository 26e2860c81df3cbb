"""The span layout of CTGAN and TVAE: internal column order and dense span activations.

Checked against a plain per-span reference (torch.softmax / cross_entropy on each
span's columns) on the spans of the real Adult encoder, including the extreme logits
that exercise the exponent shift and its exact per-span fallback.
"""

from __future__ import annotations

import pytest
import torch

from tabsynth import Metadata
from tabsynth.encoding import TableEncoder
from tabsynth.models import layout as layout_module
from tabsynth.models.layout import SpanLayout


@pytest.fixture(scope="module")
def adult_layout(adult_train):
    frame = adult_train.sample(3000, random_state=0)
    encoder = TableEncoder(Metadata.infer(frame), random_state=0).fit(frame)
    matrix = torch.as_tensor(encoder.transform(frame[:500]))
    return encoder.spans_, SpanLayout(encoder.spans_, encoder.width_, torch.device("cpu")), matrix


def _reference_activate(spans, matrix_logits, gumbel_matrix=None, tau=0.2):
    """Per-span tanh / softmax in matrix order, one span at a time."""
    out = torch.empty_like(matrix_logits)
    for span in spans:
        block = matrix_logits[:, span.start : span.stop]
        if span.activation == "tanh":
            out[:, span.start : span.stop] = torch.tanh(block)
        else:
            if gumbel_matrix is not None:
                block = (block + gumbel_matrix[:, span.start : span.stop]) / tau
            out[:, span.start : span.stop] = torch.softmax(block, dim=1)
    return out


def test_internal_order_puts_value_slots_first_and_round_trips(adult_layout):
    spans, layout, matrix = adult_layout
    internal = layout.to_internal(matrix)
    values = [s.start for s in spans if s.activation == "tanh"]
    assert layout.n_values == len(values) == 5  # age, fnlwgt, capital-gain, capital-loss, hours-per-week
    assert torch.equal(internal[:, : layout.n_values], matrix[:, values])
    assert torch.equal(layout.to_matrix(internal), matrix)
    # Every softmax span's slots are one-hot in the encoded data: rows of the span sums are 1.
    assert torch.allclose(internal[:, layout.n_values :] @ layout.membership, torch.ones(500, layout.n_soft_spans))


@pytest.mark.parametrize("scale", [1.0, 40.0, 400.0])
def test_activate_matches_per_span_softmax(adult_layout, scale):
    spans, layout, _ = adult_layout
    logits = torch.randn(500, layout.width, generator=torch.Generator().manual_seed(1)) * scale
    got = layout.to_matrix(layout.activate(layout.to_internal(logits)))
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, _reference_activate(spans, logits), rtol=1e-5, atol=1e-6)


def test_gumbel_activate_matches_reference_with_the_same_noise(adult_layout):
    spans, layout, _ = adult_layout
    logits = torch.randn(500, layout.width, generator=torch.Generator().manual_seed(2)) * 5
    got = layout.activate(layout.to_internal(logits), tau=0.2, generator=torch.Generator().manual_seed(3))
    # Reproduce the layout's draw: Gumbel noise on the softmax slots, in internal order.
    uniform = torch.rand((500, layout.width - layout.n_values), generator=torch.Generator().manual_seed(3))
    noise = -torch.log(-torch.log(uniform.clamp(1e-10, 1.0 - 1e-7)))
    gumbel_matrix = layout.to_matrix(torch.cat([torch.zeros(500, layout.n_values), noise], dim=1))
    torch.testing.assert_close(layout.to_matrix(got), _reference_activate(spans, logits, gumbel_matrix),
                               rtol=1e-5, atol=1e-6)


def test_activate_is_exact_when_spans_lie_far_apart(adult_layout):
    """One span 500 nats above the rest: a shift shared by the row would underflow every other span."""
    spans, layout, _ = adult_layout
    logits = torch.randn(500, layout.width, generator=torch.Generator().manual_seed(4))
    widest = max((s for s in spans if s.activation == "softmax"), key=lambda s: s.width)
    logits[:, widest.start : widest.stop] += 500.0
    got = layout.to_matrix(layout.activate(layout.to_internal(logits)))
    torch.testing.assert_close(got, _reference_activate(spans, logits), rtol=1e-5, atol=1e-6)


# 0 and 40: the cheap shift (the row's largest logit; at 60 the other spans' sums are
# ~e^-40 to e^-65, under float32's precision relative to the first span but above the guard);
# 500: their sums would underflow, and the exact per-span max is taken.
@pytest.mark.parametrize(("offset", "exact"), [(0.0, False), (40.0, False), (500.0, True)])
def test_categorical_nll_matches_cross_entropy_and_its_gradient(adult_layout, monkeypatch, offset, exact):
    spans, layout, matrix = adult_layout
    logits = torch.randn(500, layout.width, generator=torch.Generator().manual_seed(5)) * 3
    first_soft = next(s for s in spans if s.activation == "softmax")
    logits[:, first_soft.start : first_soft.stop] += offset
    reference_logits = logits.clone().requires_grad_(True)
    reference = sum(
        torch.nn.functional.cross_entropy(reference_logits[:, s.start : s.stop],
                                          matrix[:, s.start : s.stop].argmax(dim=1), reduction="sum")
        for s in spans if s.activation == "softmax"
    )
    reference.backward()
    exact_calls = []
    segment_max = layout_module._segment_max
    monkeypatch.setattr(layout_module, "_segment_max", lambda *a: exact_calls.append(1) or segment_max(*a))

    internal = layout.to_internal(logits).requires_grad_(True)
    soft = internal[:, layout.n_values :].contiguous()
    got = layout.categorical_nll(soft, layout.to_internal(matrix)[:, layout.n_values :])
    got.backward()
    torch.testing.assert_close(got, reference.detach(), rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(layout.to_matrix(internal.grad), reference_logits.grad, rtol=1e-4, atol=1e-6)
    assert bool(exact_calls) == exact

