"""tabsynth's Adam steps exactly like ``torch.optim.Adam(fused=True)``, without its import cost.

The problem is a real one: a small ReLU network fitted to predict Adult's ``income`` class
from its other encoded columns, with TVAE's and CTGAN's Adam settings.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from tabsynth import Metadata
from tabsynth.encoding import TableEncoder
from tabsynth.models.adam import Adam


@pytest.fixture(scope="module")
def income_classification(adult_train):
    """Encoded Adult rows without the income block (2,000, width - 2) and the ``>50K`` slot (2,000, 1)."""
    frame = adult_train.sample(2000, random_state=3)
    encoder = TableEncoder(Metadata.infer(frame), random_state=0).fit(frame)
    matrix = torch.as_tensor(encoder.transform(frame), dtype=torch.float32)
    income = next(s for s in encoder.spans_ if s.column == "income")
    inputs = torch.cat([matrix[:, : income.start], matrix[:, income.start + income.width :]], dim=1)
    high = income.start + encoder.condition_slot("income", ">50K")[1]
    return inputs, matrix[:, high : high + 1]


def _network(width: int) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(width, 32), nn.ReLU(), nn.Linear(32, 1))


@pytest.mark.parametrize("betas, weight_decay", [((0.9, 0.999), 1e-5), ((0.5, 0.9), 1e-6), ((0.5, 0.9), 0.0)])
def test_fused_adam_matches_torch_optim_adam_bit_for_bit(income_classification, betas, weight_decay):
    inputs, target = income_classification
    ours, reference = _network(inputs.shape[1]), _network(inputs.shape[1])
    optimizer = Adam(ours.parameters(), 1e-2, betas, weight_decay)
    reference_optimizer = torch.optim.Adam(reference.parameters(), lr=1e-2, betas=betas,
                                           weight_decay=weight_decay, fused=True)
    losses = []
    for step in range(80):
        if step == 60:  # a learning-rate schedule, as the autoregressive model's plateau halving
            optimizer.lr *= 0.5
            reference_optimizer.param_groups[0]["lr"] *= 0.5
        rows = slice(step % 40 * 50, step % 40 * 50 + 50)
        for network, opt in ((ours, optimizer), (reference, reference_optimizer)):
            opt.zero_grad()
            loss = nn.functional.binary_cross_entropy_with_logits(network(inputs[rows]), target[rows])
            loss.backward()
            if step % 7 == 3:  # a step where one tensor has no gradient: it must be left alone
                network[2].bias.grad = None
            opt.step()
        losses.append(loss.item())
    for mine, theirs in zip(ours.parameters(), reference.parameters()):
        assert torch.equal(mine, theirs)
    assert sum(losses[-10:]) < 0.8 * sum(losses[:10])  # it learns (log-loss 0.69 -> ~0.4)


def test_adam_refuses_no_parameters_and_mixed_devices():
    with pytest.raises(ValueError, match="at least one parameter"):
        Adam([], 1e-3, (0.9, 0.999), 0.0)
    with pytest.raises(ValueError, match="share one device"):
        Adam([torch.zeros(3), torch.zeros(3, device="meta")], 1e-3, (0.9, 0.999), 0.0)


def test_fused_adam_does_not_import_torch_dynamo():
    """The 1 s import that torch.optim.Adam's constructor costs every fresh process."""
    code = (
        "import sys, torch\n"
        "from tabsynth.models.adam import Adam\n"
        "p = torch.nn.Parameter(torch.ones(3)); p.grad = torch.ones(3)\n"
        "Adam([p], 0.1, (0.9, 0.999), 0.0).step()\n"
        "assert float(p[0]) < 1, 'no step taken'\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
