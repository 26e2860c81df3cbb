"""DP-SGD through Opacus: Poisson sampling, per-example gradients, clipping and noise.

Abadi et al. (2016), "Deep Learning with Differential Privacy". Each step draws every
training row independently with probability ``q`` (Opacus'
``UniformWithReplacementSampler``: the Poisson sampling the accountant assumes), computes
one gradient per drawn row, and hands them to Opacus' ``DPOptimizer``, which clips each to
``max_grad_norm``, sums them, adds Gaussian noise of standard deviation
``noise_multiplier * max_grad_norm`` and steps the wrapped ``torch.optim`` optimiser.

Two ways to clip, both plain autograd on the same ``nn.Module`` the model samples with:

* ``"ghost"`` (:meth:`DPSGD.ghost_step`): Opacus' fast gradient clipping. Its hooks
  capture each layer's activations and output gradients in one backward pass and compute
  every example's gradient norm without materialising the per-example gradients (the
  layers need norm samplers: Opacus' for ``nn.Linear`` / ``nn.Embedding``, tabsynth's in
  :mod:`tabsynth.privacy.norm_samplers`); a second backward of the loss re-weighted by the
  clipping factors gives the clipped sum. About two backward passes per step.
* ``"per_example"`` (:meth:`DPSGD.step`): ``torch.func`` (``vmap`` over ``grad`` of the
  model's own per-row loss through ``functional_call``), for what hooks cannot see (a
  gradient penalty's double backward). Rows are processed in physical chunks so memory
  stays bounded; the chunks of one step are clipped and accumulated before the single
  noisy step (Opacus' skip-step mechanism).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import torch
from opacus.grad_sample import GradSampleModuleFastGradientClipping
from opacus.optimizers import DPOptimizer, DPOptimizerFastGradientClipping
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
from torch import nn
from torch.func import functional_call, grad_and_value, vmap


class DPSGD:
    """Differentially private optimisation of one module.

    Parameters
    ----------
    module : nn.Module
        Must hold no BatchNorm (a row's output would depend on the other rows).
    optimizer : torch.optim.Optimizer
        Over ``module``'s parameters; wrapped by Opacus' ``DPOptimizer``.
    n_rows : int
        Training rows (public, as in DP-SGD practice).
    expected_batch_size : int
        Expected rows per step; the sampling rate is ``expected_batch_size / n_rows``.
    noise_multiplier : float
        Noise std over the clipping norm (calibrated by
        :func:`~tabsynth.privacy.accounting.calibrate_noise_multiplier`).
    max_grad_norm : float
        Per-example clipping norm.
    sampling_generator : torch.Generator
        CPU generator for the Poisson draws.
    noise_generator : torch.Generator
        Generator on the module's device for the noise.
    physical_batch_size : int, default 256
        Most rows whose per-example gradients are held at once (``"per_example"`` mode).
    mode : {"ghost", "per_example"}, default "ghost"
        How per-example gradients are clipped (see the module docstring).
    batch_first : bool, default True
        ``"ghost"`` mode: whether the module's layers see the batch as their first
        dimension (else second).
    norm_pass_inputs : list of Parameter or None
        ``"ghost"`` mode: the parameters at the bottom of the graph (every layer lies on a
        path from the loss to one of them), towards which the norm pass differentiates;
        None: every parameter (a full backward). Checked at every step.

    Raises
    ------
    ValueError
        If ``module`` holds a BatchNorm layer, or ``mode`` is unknown.
    """

    def __init__(self, module: nn.Module, optimizer: torch.optim.Optimizer, *, n_rows: int, expected_batch_size: int,
                 noise_multiplier: float, max_grad_norm: float, sampling_generator: torch.Generator,
                 noise_generator: torch.Generator, physical_batch_size: int = 256, mode: str = "ghost",
                 batch_first: bool = True, norm_pass_inputs: list[nn.Parameter] | None = None):
        check_no_batch_norm(module)
        from tabsynth.privacy.audit import _BROKEN  # set only by audit.broken_dp_sgd, to test the audit

        clipping_norm = max_grad_norm if _BROKEN.get("clipping", True) else 1e12
        if not _BROKEN.get("noise", True):
            noise_multiplier = 0.0
        if mode not in ("ghost", "per_example"):
            raise ValueError(f"mode must be 'ghost' or 'per_example', got {mode!r}.")
        if mode == "ghost":
            import tabsynth.privacy.norm_samplers  # noqa: F401  (registers tabsynth's layers with Opacus)
        self.mode = mode
        self.module = module
        self.n_rows = n_rows
        self.sample_rate = min(1.0, expected_batch_size / n_rows)
        self.physical_batch_size = physical_batch_size
        self.sampler = UniformWithReplacementSampler(num_samples=n_rows, sample_rate=self.sample_rate,
                                                     generator=sampling_generator)
        optimizer_class = DPOptimizerFastGradientClipping if mode == "ghost" else DPOptimizer
        # The optimiser's noise std is noise_multiplier * max_grad_norm; per_example mode also clips there.
        optimizer_norm = max_grad_norm if mode == "ghost" else clipping_norm
        self.optimizer = optimizer_class(optimizer, noise_multiplier=noise_multiplier * max_grad_norm / optimizer_norm,
                                         max_grad_norm=optimizer_norm, expected_batch_size=expected_batch_size,
                                         loss_reduction="mean", generator=noise_generator)
        self.hooks = None
        if mode == "ghost":
            self.hooks = GradSampleModuleFastGradientClipping(
                module, batch_first=batch_first, loss_reduction="mean", strict=False, max_grad_norm=clipping_norm,
                use_ghost_clipping=True)
        self._names = [name for name, p in module.named_parameters() if p.requires_grad]
        self._params = [p for p in module.parameters() if p.requires_grad]
        self._norm_inputs = list(norm_pass_inputs) if norm_pass_inputs is not None else self._params

    @property
    def steps_per_epoch(self) -> int:
        """Steps of one pass in expectation over the rows, ``int(1 / q)``."""
        return len(self.sampler)

    def batches(self) -> Iterator[torch.Tensor]:
        """One epoch of Poisson-sampled row indices (``(b,)`` int64, b may be 0)."""
        for indices in self.sampler:
            yield torch.as_tensor(indices, dtype=torch.long)

    def ghost_step(self, batch_losses: Callable[[], torch.Tensor], size: int,
                   shares: torch.Tensor | None = None) -> float:
        """One noisy step by ghost clipping.

        Parameters
        ----------
        batch_losses : callable
            ``batch_losses() -> (b,)`` float: each row's loss, from one batched forward
            pass of the module (its layers' hooks capture what the norms need).
        size : int
            Rows in the batch (``b``; 0 still takes a noisy step).
        shares : ``(b,)`` float tensor or None
            Person-level DP (:mod:`tabsynth.privacy.units`): row i is clipped to
            ``shares[i] * max_grad_norm``, the shares of one person's rows summing to at most
            1, so each person's contribution has norm at most ``max_grad_norm``; the engine's
            Poisson sampling is then over persons. None: every row clipped to the norm.

        Returns
        -------
        float
            The mean loss before clipping (for progress display only: it is computed
            from raw rows, so it must never be saved or released).
        """
        if size == 0:  # an empty Poisson batch: only noise
            for p in self._params:
                p.grad = torch.zeros_like(p)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            return 0.0
        self.hooks.enable_hooks()
        losses = batch_losses()
        with warnings.catch_warnings():
            # Expected: the network's inputs are integer tokens, which need no gradient.
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            # Pass 1, for the hooks' per-example norms only. A gradient towards the bottom
            # parameters (``norm_pass_inputs``) runs every layer's backward hook without the
            # weight-gradient products a full backward adds (Opacus' own
            # DPTensorFastGradientClipping runs a full .backward() here). Every parameter must
            # then hold a fresh norm, else a layer was skipped: refuse rather than clip wrongly.
            for p in self._params:
                p._norm_sample = None
            torch.autograd.grad(losses.mean(), self._norm_inputs, retain_graph=True)
            missing = [name for name, p in zip(self._names, self._params) if getattr(p, "_norm_sample", None) is None]
            if missing:
                raise RuntimeError(f"DP-SGD: no per-example norm for {missing}; add their layers' parameters to "
                                   "norm_pass_inputs.")
            if shares is None:
                coefficients = self.hooks.get_clipping_coef()
            else:  # Opacus' coefficient with a per-row bound
                bound = self.hooks.max_grad_norm * shares.to(losses.device)
                coefficients = (bound / (self.hooks.get_norm_sample().to(losses.device) + 1e-6)).clamp(max=1.0)
            self.hooks.disable_hooks()
            # Pass 2: the clipped sum, sum_i c_i grad_i, as one ordinary backward.
            (coefficients.to(losses.device) * losses).sum().backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(losses.detach().mean())

    def step(self, example_loss: Callable[..., torch.Tensor], *rows: torch.Tensor) -> float:
        """One noisy step on the rows of one Poisson batch (``"per_example"`` mode).

        Parameters
        ----------
        example_loss : callable
            ``example_loss(call, *row) -> scalar``: the loss of ONE row, where ``row`` are
            the tensors of ``rows`` without their batch dimension and ``call(*args)`` runs
            the module's forward with the parameters being differentiated.
        *rows : tensors ``(b, ...)`` on the module's device.

        Returns
        -------
        float
            The mean per-row loss of the batch before clipping (for progress display only:
            it is computed from raw rows, so it must never be saved or released).
        """
        names = self._names

        def loss_of(values: tuple[torch.Tensor, ...], *row: torch.Tensor) -> torch.Tensor:
            parameters = dict(zip(names, values))
            return example_loss(lambda *args: functional_call(self.module, parameters, args), *row)

        per_example = vmap(grad_and_value(loss_of), in_dims=(None,) + (0,) * len(rows), randomness="different")
        values = tuple(p.detach() for p in self._params)
        size = len(rows[0])
        total = 0.0
        if size == 0:  # an empty Poisson batch still takes its noisy step
            for p in self._params:
                p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype, device=p.device)
            self.optimizer.step()
        for start in range(0, size, self.physical_batch_size):
            chunk = [t[start : start + self.physical_batch_size] for t in rows]
            grads, losses = per_example(values, *chunk)
            for p, g in zip(self._params, grads):
                p.grad_sample = g
            total += float(losses.detach().sum())
            last = start + self.physical_batch_size >= size
            if not last:
                self.optimizer.signal_skip_step(do_skip=True)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total / max(size, 1)


def calibrated_dp_sgd(ledger, module: nn.Module, optimizer: torch.optim.Optimizer, *, n_rows: int, batch_size: int,
                      epochs: int, columns: list[str], device: torch.device, **engine_options) -> DPSGD:
    """Fix the DP-SGD steps, calibrate the noise so ``ledger`` meets its target, record the
    mechanism in it, and return the engine that trains ``module``.

    ``epochs`` expected passes of Poisson batches of ``ledger.config.expected_batch_size``
    (else ``batch_size``) rows: ``epochs * int(n / batch)`` steps, never more. The Poisson
    draws and the noise come from secret seeds (a saved seed must not reveal them). The
    engine's ``noise_multiplier`` is the calibrated one. ``engine_options`` go to
    :class:`DPSGD` (``mode``, ``physical_batch_size``, ...).
    """
    from tabsynth.privacy.accounting import Mechanism, calibrate_noise_multiplier
    from tabsynth.privacy.mechanisms import secret_seed

    dp = ledger.config
    expected_batch = min(dp.expected_batch_size or batch_size, n_rows)
    sample_rate = expected_batch / n_rows
    steps = epochs * int(1 / sample_rate)
    noise_multiplier = calibrate_noise_multiplier(ledger, sample_rate=sample_rate, steps=steps)
    ledger.add(Mechanism("DP-SGD", list(columns), noise_std=noise_multiplier * dp.max_grad_norm,
                         sensitivity=dp.max_grad_norm, steps=steps, sample_rate=sample_rate))
    engine = DPSGD(module, optimizer, n_rows=n_rows, expected_batch_size=expected_batch,
                   noise_multiplier=noise_multiplier, max_grad_norm=dp.max_grad_norm,
                   sampling_generator=torch.Generator().manual_seed(secret_seed()),
                   noise_generator=torch.Generator(device).manual_seed(secret_seed()), **engine_options)
    engine.noise_multiplier = noise_multiplier
    return engine


def check_no_batch_norm(module: nn.Module) -> None:
    """Raise ValueError if ``module`` holds a BatchNorm layer (incompatible with per-example privacy)."""
    for name, layer in module.named_modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            raise ValueError(f"Layer '{name}' is a BatchNorm, whose output mixes rows; it cannot be trained with "
                             "DP-SGD. Use a network without BatchNorm.")
