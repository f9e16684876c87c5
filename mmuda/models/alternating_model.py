"""The alternating generator / discriminator optimisation shared by every adversarial model."""
import math
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.dist import all_reduce
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.optim import AmpOptimWrapper, OptimWrapper, OptimWrapperDict

from mmuda.utils import all_reduce_gradients

from .term_gradients import check_depths, loss_terms, term_gradient_norms

Tensor = torch.Tensor
Losses = Dict[str, Tensor]
HALF_DTYPES = (torch.float16, torch.bfloat16)


def _full_precision(obj: Any) -> Any:
    """``obj`` (nested dicts, lists, tuples) with its float16/bfloat16 tensors cast to float32.

    The generator step of an ``AmpOptimWrapper`` runs under autocast, so the tensors it caches
    for the discriminator step (features, logits) can come out in half precision. A
    discriminator stepped by a plain ``OptimWrapper`` has float32 weights and would fail on
    them (mixed-dtype convolution); one stepped under its own autocast casts its inputs where
    it needs to anyway, so casting up first is exact for both.
    """
    if isinstance(obj, Tensor):
        return obj.float() if obj.dtype in HALF_DTYPES else obj
    if isinstance(obj, dict):
        return type(obj)((k, _full_precision(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)) and not hasattr(obj, '_fields'):
        return type(obj)(_full_precision(v) for v in obj)
    return obj


class AlternatingModel(BaseModel):
    """A model trained by a generator step, discriminators frozen, then a discriminator step.

    One ``OptimWrapper`` per direct child (``UDAOptimWrapperConstructor``). A subclass names
    its children in two tuples and writes two loss functions:

    * ``generator_children``: stepped after :meth:`generator_losses` (e.g. the segmentor; LDR
      adds its reconstruction network, CycleGAN has its two generators);
    * ``discriminator_children``: frozen (``requires_grad=False``) during the generator step,
      then stepped after :meth:`discriminator_losses`, which sees only the detached tensors
      the generator step put in its cache.

    A child without an entry in the ``OptimWrapperDict`` (the constructor skips children with
    nothing to train, e.g. the empty discriminators of a source-only model) is not stepped;
    when no discriminator child is, the discriminator step is skipped.

    Each step runs one backward, averages the stepped children's gradients over ranks (no-op
    on one process), then steps every wrapper of the step. AMP is chosen per step in the
    config (``optim_wrapper.<child>.type='AmpOptimWrapper'``): the step's first wrapper opens
    the autocast context and scales the loss, and the cache is cast back to float32 before
    the discriminator step, so the two steps can use AMP independently. A NaN or Inf loss
    stops training with an error naming the terms, or skips the step (``nonfinite_loss``); the
    decision is taken identically on every rank.

    Gradient diagnostics: after :meth:`request_term_gradient_norms`, the next generator step
    also measures the gradient norm of each of its loss terms (:mod:`.term_gradients`; one
    extra backward per term, before the step's own, which is unchanged);
    :meth:`pop_term_gradient_norms` hands them over. Without a request nothing is computed.
    """

    generator_children: Tuple[str, ...] = ()
    discriminator_children: Tuple[str, ...] = ()
    NONFINITE_POLICIES = ('raise', 'skip')

    def __init__(self, nonfinite_loss: str = 'raise', **kwargs) -> None:
        if nonfinite_loss not in self.NONFINITE_POLICIES:
            raise ValueError(f'model.nonfinite_loss must be one of {self.NONFINITE_POLICIES}, '
                             f'got {nonfinite_loss!r}')
        super().__init__(**kwargs)
        self.nonfinite_loss = nonfinite_loss
        self._term_gradient_request: Optional[Tuple[int, ...]] = None
        self._term_gradient_norms: Dict[str, float] = {}
        self._early: Optional[dict] = None  # set during a generator step that allows it

    # ------------------------------------------------------------------ what a subclass writes
    def prepare_batch(self, data: dict) -> dict:
        """The preprocessed ``data`` as the loss functions want it."""
        return data

    def generator_losses(self, batch: dict) -> Tuple[Losses, dict]:
        """Losses of the generator step and a cache of detached tensors for the D step."""
        raise NotImplementedError

    def discriminator_losses(self, cache: dict) -> Losses:
        """Losses of the discriminator step, from the detached tensors in ``cache``."""
        raise NotImplementedError(f'{type(self).__name__} has discriminators but does not '
                                  'define discriminator_losses()')

    # ------------------------------------------------------------------ the step
    def train_step(self, data: dict, optim_wrapper: OptimWrapperDict) -> Dict[str, Tensor]:
        batch = self.prepare_batch(self.data_preprocessor(data, True))
        log_vars, cache = self._generator_step(batch, optim_wrapper)
        d_wrappers = self._wrappers(optim_wrapper, self.discriminator_children)
        if d_wrappers:
            d_vars = self._discriminator_step(cache, d_wrappers)
            # `loss` stays the generator step's total; the D step's total is logged beside it
            d_vars['disc.loss'] = d_vars.pop('loss')
            log_vars.update(d_vars)
        return log_vars

    @staticmethod
    def _wrappers(optim_wrapper: OptimWrapperDict,
                  names: Sequence[str]) -> List[Tuple[str, OptimWrapper]]:
        return [(name, optim_wrapper[name]) for name in names if name in optim_wrapper]

    def _set_discriminators_trainable(self, flag: bool) -> None:
        for name in self.discriminator_children:
            getattr(self, name).requires_grad_(flag)

    def _generator_step(self, batch: dict, optim_wrapper: OptimWrapperDict
                        ) -> Tuple[Dict[str, Tensor], dict]:
        wrappers = self._wrappers(optim_wrapper, self.generator_children)
        if not wrappers:
            raise KeyError(f'{type(self).__name__}: optim_wrapper has no entry for any of '
                           f'{list(self.generator_children)}')
        self._set_discriminators_trainable(False)
        name, first = wrappers[0]
        depths, self._term_gradient_request = self._term_gradient_request, None
        # early backward (backward_early) only where it gives the same update: no gradient
        # accumulation over iterations, no per-term gradient measurement (which needs every
        # term's graph), one loss scaler
        allowed = depths is None and all(w._accumulative_counts == 1 for _, w in wrappers)
        self._early = dict(wrapper=first, done=False, finite=True) if allowed else None
        try:
            with first.optim_context(getattr(self, name)):
                losses, cache = self.generator_losses(batch)
                loss, log_vars = self.parse_losses(losses)
        finally:
            early, self._early = self._early, None
        measure = None if depths is None else partial(self._measure_term_gradients, losses,
                                                      wrappers, depths)
        self._update_params(wrappers, loss, log_vars, measure,
                            early_done=bool(early and early['done']))
        return log_vars, cache

    def backward_early(self, losses: Losses) -> Losses:
        """Backpropagate part of the generator step's losses now; the same losses, detached.

        A method calls this with the terms whose graph no later term shares (e.g. the source
        segmentation loss before the target forward, as the reference loops do): their graph is
        freed before the next forward builds its own, which lowers the step's peak memory. The
        gradients are the same (each parameter's gradient is the sum of the parts' in either
        case) and the step still takes one optimiser update after all its losses. Where the
        step cannot split its backward (gradient accumulation, gradient diagnostics) or outside
        a generator step, the losses are returned unchanged and backpropagated with the rest.
        A non-finite part is not backpropagated; the step then handles it as any non-finite
        loss (and drops the gradients of parts already backpropagated).
        """
        early = self._early
        if early is None:
            return losses
        loss, _ = self.parse_losses(losses)
        if not self._finite_on_all_ranks(loss):
            early['finite'] = False
            return losses
        if not early['finite']:
            return losses
        wrapper = early['wrapper']
        scaled = wrapper.scale_loss(loss)
        scaler = getattr(wrapper, 'loss_scaler', None)
        (scaler.scale(scaled) if scaler is not None else scaled).backward()
        early['done'] = True
        return {k: v.detach() if isinstance(v, Tensor) else v for k, v in losses.items()}

    def _discriminator_step(self, cache: dict,
                            wrappers: List[Tuple[str, OptimWrapper]]) -> Dict[str, Tensor]:
        self._set_discriminators_trainable(True)
        name, first = wrappers[0]
        cache = _full_precision(cache)
        with first.optim_context(getattr(self, name)):
            loss, log_vars = self.parse_losses(self.discriminator_losses(cache))
        self._update_params(wrappers, loss, log_vars)
        return log_vars

    def _update_params(self, wrappers: List[Tuple[str, OptimWrapper]], loss: Tensor,
                       log_vars: dict, measure: Optional[Callable[[], None]] = None,
                       early_done: bool = False) -> None:
        """``OptimWrapper.update_params`` over the wrappers of one step: one backward, gradients
        averaged over ranks, then every wrapper steps.

        The first wrapper scales the loss and decides when to step (gradient accumulation), so
        several wrappers in one step must agree on ``accumulative_counts``, and AMP loss
        scaling is supported for a step with one wrapper only (a shared backward cannot apply
        two loss scalers). ``measure`` (the gradient diagnostics) runs before the backward,
        only when the step is taken.
        """
        self._check_compatible(wrappers)
        if not self._finite_on_all_ranks(loss):
            if early_done:  # gradients of the parts backpropagated early (backward_early)
                for _, wrapper in wrappers:
                    wrapper.zero_grad()
            self._handle_nonfinite(log_vars)
            return
        if measure is not None:
            measure()
        first = wrappers[0][1]
        if loss.requires_grad:
            first.backward(first.scale_loss(loss))
        else:  # every term went through backward_early: count the backward all the same
            first._inner_count += 1
        if first.should_update():
            for _, wrapper in wrappers:
                all_reduce_gradients(p for group in wrapper.optimizer.param_groups
                                     for p in group['params'])
                wrapper.step()
                wrapper.zero_grad()

    # ------------------------------------------------------------------ gradient diagnostics
    def request_term_gradient_norms(self, depths: Sequence[int] = (1,)) -> None:
        """Measure the gradient norm of every loss term in the next generator step only.

        ``depths`` chooses the parameter groups (:func:`.term_gradients.group_names`): 1 gives
        one norm per generator child (``segmentor``; LDR also ``reconstructor``), 2 per
        sub-module of a child (``segmentor.backbone``, ``segmentor.decode_head``), 3 per
        backbone stage (``segmentor.backbone.layer3``), ...
        """
        self._term_gradient_request = check_depths(depths)

    def pop_term_gradient_norms(self) -> Dict[str, float]:
        """The norms of the last measured step (``{}`` if none since the last pop)."""
        norms, self._term_gradient_norms = self._term_gradient_norms, {}
        return norms

    def _measure_term_gradients(self, losses: Losses, wrappers: List[Tuple[str, OptimWrapper]],
                                depths: Tuple[int, ...]) -> None:
        """Gradient norm of every term w.r.t. the parameters the step's wrappers update."""
        names = {id(p): n for n, p in self.named_parameters()}
        params = {id(p): (names[id(p)], p) for _, wrapper in wrappers
                  for group in wrapper.optimizer.param_groups for p in group['params']
                  if p.requires_grad}
        self._term_gradient_norms = term_gradient_norms(
            loss_terms(losses), list(params.values()), depths, self._loss_scale(wrappers[0][1]))

    @staticmethod
    def _loss_scale(wrapper: OptimWrapper) -> float:
        """The factor an ``AmpOptimWrapper``'s loss scaler multiplies the loss by (else 1)."""
        scaler = getattr(wrapper, 'loss_scaler', None)
        if scaler is None or not getattr(scaler, 'is_enabled', lambda: True)():
            return 1.0
        return float(scaler.get_scale())

    @staticmethod
    def _check_compatible(wrappers: List[Tuple[str, OptimWrapper]]) -> None:
        if len(wrappers) < 2:
            return
        names = [name for name, _ in wrappers]
        if any(isinstance(w, AmpOptimWrapper) for _, w in wrappers):
            raise NotImplementedError(
                f'optim_wrapper entries {names} are stepped after one shared backward, which '
                'cannot apply several AMP loss scalers: use OptimWrapper for them')
        counts = {name: w._accumulative_counts for name, w in wrappers}
        if len(set(counts.values())) > 1:
            raise ValueError(f'optim_wrapper entries stepped together must share '
                             f'accumulative_counts, got {counts}')

    @staticmethod
    def _finite_on_all_ranks(loss: Tensor) -> bool:
        """Whether the loss is finite on every rank (one scalar all-reduce when distributed),
        so that all ranks skip or stop together instead of one of them hanging."""
        bad = torch.tensor(0.0 if torch.isfinite(loss).all() else 1.0, device=loss.device)
        all_reduce(bad)  # no-op on one process
        return bad.item() == 0

    def _handle_nonfinite(self, log_vars: dict) -> None:
        terms = [k for k, v in log_vars.items() if not math.isfinite(float(v))]
        iteration = MessageHub.get_current_instance().get_info('iter', -1) + 1
        what = ', '.join(terms) if terms else 'a loss on another rank'
        if self.nonfinite_loss == 'raise':
            raise FloatingPointError(
                f'non-finite loss at iteration {iteration}: {what}. Training stopped before '
                'the update; the last checkpoint written is the last good one. Set '
                "model.nonfinite_loss='skip' to skip such steps instead.")
        log_vars['nonfinite_skipped'] = torch.tensor(1.0)
