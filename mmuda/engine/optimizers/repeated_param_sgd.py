"""SGD as the DeepLab-v2 lineage's reference code runs it: backbone parameters listed repeatedly.

The public AdaptSegNet, ADVENT and BDL training code (and the model file of SSF-DAN's inference
code) hands ``torch.optim.SGD`` a parameter list built by a generator that walks
``for j in stage.modules(): for k in j.parameters(): yield k`` over the backbone stages
``conv1, bn1, layer1, ..., layer4``. ``modules()`` recurses and ``parameters()`` recurses
again, so every backbone parameter is listed once per module on its path from the stage down
to the module that owns it: the stem convolution once, each bottleneck convolution three times
(stage, block, conv), each downsample convolution four times (stage, block, downsample
``Sequential``, conv). The classifiers are listed with ``parameters()``: once.
:func:`walk_occurrences` counts exactly that.

PyTorch 0.4's ``SGD.step`` (the version that code was released for) walks the list in order
and, for every occurrence of a parameter ``p`` with gradient ``g``::

    g += weight_decay * p                     # in place on p.grad: it accumulates
    if first occurrence ever:  buf = zeros_like(p); buf = momentum * buf + g   # i.e. buf = g
    else:                      buf = momentum * buf + (1 - dampening) * g
    p -= lr * (g + momentum * buf if nesterov else buf)

The momentum buffer is one per parameter (``optimizer.state[p]``), shared by its occurrences.
Evidence for the first-occurrence line: the 0.4-era ``torch/optim/sgd.py`` creates the buffer
with ``torch.zeros_like(p.data)`` and then runs ``buf.mul_(momentum).add_(d_p)``; PyTorch PR
#18114 (March 2019) replaced exactly these three operations by ``torch.clone(d_p)`` as an
equivalent shortcut. ``0 * momentum + g`` is ``g`` bit for bit, so "created as zeros" and
"created as a copy of the gradient" are the same number; what matters is that dampening is
not applied to it. Different parameters do not interact, so each parameter's ``k``
occurrences can run back to back, which is what :class:`RepeatedParamSGD` does. A
three-times-listed parameter moves ``1 + 1.9 + 2.71 = 5.61`` times as far as plain SGD's on
the first step (momentum 0.9), and in steady state about ``k`` times as far with an effective
momentum of ``0.9 ** k``: the lineage's published numbers came from roughly 3x (4x for
downsample convolutions) the stated backbone learning rate.
"""
from typing import Dict, Iterable, Optional, Sequence

import torch
import torch.nn as nn
from mmseg.registry import OPTIMIZERS
from torch.optim import Optimizer

Tensor = torch.Tensor


def walk_occurrences(module: nn.Module, stages_of: Sequence[str] = ('backbone',)
                     ) -> Dict[str, int]:
    """How often the reference generator lists each parameter of ``module``, by name.

    Every direct child of each submodule named in ``stages_of`` is one stage (for a ResNet:
    conv1, bn1, relu, maxpool, layer1..layer4; children without parameters add nothing). For a
    stage, each module of ``stage.modules()`` lists its ``parameters()``; a parameter outside
    every stage (heads, necks) is listed once, as the reference's ``parameters()`` of the
    classifiers does. Frozen parameters are counted too: they get no gradient, so the
    optimizer skips them whatever their count.
    """
    named = dict(module.named_modules())
    counts: Dict[int, int] = {}
    for parent_name in stages_of:
        if parent_name not in named:
            children = sorted(name for name, _ in module.named_children())
            raise KeyError(f'RepeatedParamSGD(stages_of={list(stages_of)}): {parent_name!r} '
                           f'is not a submodule of {type(module).__name__} (its children: '
                           f'{children})')
        for stage in named[parent_name].children():
            for sub in stage.modules():
                for param in sub.parameters():
                    counts[id(param)] = counts.get(id(param), 0) + 1
    return {name: counts.get(id(param), 1) for name, param in module.named_parameters()}


@OPTIMIZERS.register_module()
class RepeatedParamSGD(Optimizer):
    """``torch.optim.SGD`` of PyTorch 0.4 over the reference's parameter list with repeats.

    Each parameter appears once in the param groups (so mmengine's param schedulers, the 10x
    ``lr_mult`` of the heads, AMP's gradient unscaling, gradient clipping and the gradient
    all-reduce each see it once) and its group holds ``repeats``: how many times the reference
    would have listed it. :meth:`step` then applies the PyTorch 0.4 update that many times in
    a row (see the module docstring): weight decay added again at every occurrence to the
    running gradient, one momentum buffer per parameter. With every count at 1 it is
    ``torch.optim.SGD``. The gradient itself is left as backward wrote it (0.4 added the
    weight decay into ``p.grad`` in place; the arithmetic here is the same on a copy).

    The counts come from the module tree, which an optimizer does not see: the optim-wrapper
    constructor calls :meth:`bind_module` with the module the optimizer was built for
    (``UDAOptimWrapperConstructor`` does so for every child whose optimizer has that method).
    ``repeats`` lives in the param groups, so it is saved in and restored from checkpoints with
    the momentum buffers. A step before binding raises instead of silently running plain SGD.

    Args:
        params: Parameters or param groups, as for ``torch.optim.SGD``.
        lr, momentum, dampening, weight_decay, nesterov: As ``torch.optim.SGD``.
        stages_of: Submodules (dotted names in the bound module) whose direct children are the
            stages the reference walks; default the backbone's (:func:`walk_occurrences`).
    """

    def __init__(self, params: Iterable, lr: float, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 stages_of: Sequence[str] = ('backbone',)) -> None:
        if lr < 0.0 or momentum < 0.0 or weight_decay < 0.0:
            raise ValueError(f'RepeatedParamSGD: lr, momentum and weight_decay must be >= 0, '
                             f'got {lr}, {momentum}, {weight_decay}')
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError('RepeatedParamSGD: nesterov needs momentum > 0 and dampening 0')
        if isinstance(stages_of, str):
            stages_of = (stages_of,)
        self.stages_of = tuple(stages_of)
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def bind_module(self, module: nn.Module) -> None:
        """Set every group's ``repeats`` from ``module``'s tree (:func:`walk_occurrences`)."""
        occurrences = walk_occurrences(module, self.stages_of)
        names = {id(p): name for name, p in module.named_parameters()}
        for group in self.param_groups:
            missing = [p for p in group['params'] if id(p) not in names]
            if missing:
                raise ValueError(f'RepeatedParamSGD.bind_module: {len(missing)} optimised '
                                 f'parameters are not parameters of {type(module).__name__}')
            group['repeats'] = [occurrences[names[id(p)]] for p in group['params']]

    def load_state_dict(self, state_dict: dict) -> None:
        """torch's loading, keeping the counts of the bound module.

        The saved ``repeats`` come back with the groups; a checkpoint whose counts differ from
        the bound module's (another backbone, another ``stages_of``) is refused rather than
        silently training with the old counts. A state saved by ``torch.optim.SGD`` (switching
        optimisers on resume) has no counts: the bound ones stay, its momentum buffers are used.
        """
        bound = [group.get('repeats') for group in self.param_groups]
        super().load_state_dict(state_dict)
        for index, (group, repeats) in enumerate(zip(self.param_groups, bound)):
            saved = group.get('repeats')
            if repeats is None or saved == repeats:
                continue
            if saved is None:
                group['repeats'] = repeats
                continue
            raise ValueError(f'RepeatedParamSGD.load_state_dict: param group {index} was saved '
                             f'with repeat counts {saved}, but the module gives {repeats} '
                             '(another backbone or stages_of?)')

    @torch.no_grad()
    def step(self, closure=None) -> Optional[Tensor]:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if 'repeats' not in group:
                raise RuntimeError(
                    'RepeatedParamSGD has no repeat counts: it must be bound to its module '
                    '(bind_module), which UDAOptimWrapperConstructor does; a config built '
                    "with mmengine's DefaultOptimWrapperConstructor does not")
            for param, repeats in zip(group['params'], group['repeats']):
                if param.grad is not None:
                    self._update(param, repeats, group)
        return loss

    def _update(self, param: Tensor, repeats: int, group: dict) -> None:
        """``repeats`` PyTorch 0.4 SGD updates of one parameter, back to back."""
        if param.grad.is_sparse:
            raise RuntimeError('RepeatedParamSGD does not support sparse gradients')
        lr, momentum, dampening = group['lr'], group['momentum'], group['dampening']
        weight_decay, nesterov = group['weight_decay'], group['nesterov']
        state = self.state[param]
        grad = param.grad.clone()
        for _ in range(repeats):
            if weight_decay != 0:
                grad.add_(param, alpha=weight_decay)
            direction = grad
            if momentum != 0:
                buf = state.get('momentum_buffer')
                if buf is None:
                    buf = state['momentum_buffer'] = torch.zeros_like(param)
                    buf.mul_(momentum).add_(grad)
                else:
                    buf.mul_(momentum).add_(grad, alpha=1 - dampening)
                direction = grad.add(buf, alpha=momentum) if nesterov else buf
            param.add_(direction, alpha=-lr)
