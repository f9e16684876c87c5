"""How strongly each loss term pulls on the parameters of one optimisation step.

A step minimises a sum of terms (``src.decode.loss_ce``, ``adv.main.loss_gen``,
``rec.tgt.loss_vgg``, ...), and its one backward only gives the gradient of the sum. When a
run goes wrong, the first question is which term dominates the update: this module computes,
for every term separately, the norm of its gradient with respect to the step's parameters,
in total and per group of parameters (a child such as ``segmentor``, or a sub-module such as
``segmentor.backbone.layer3``).

It costs one extra backward pass per term (the graph is kept for the step's own backward), so
it runs only when asked (:meth:`AlternatingModel.request_term_gradient_norms`, normally by
``TermGradientNormHook`` every N iterations); the training step itself is unchanged.
"""
import math
from collections import OrderedDict
from typing import Dict, List, Mapping, Sequence, Tuple

import torch

from mmuda.utils import all_reduce_mean_

Tensor = torch.Tensor
NamedParams = Sequence[Tuple[str, torch.nn.Parameter]]
KEY_PREFIX = 'grad_norm'
TOTAL = 'loss'  # the key of the sum of the terms, as in the log of the step (``parse_losses``)


def loss_terms(losses: Mapping[str, object]) -> Dict[str, Tensor]:
    """The terms a step sums, as mmengine's ``BaseModel.parse_losses`` takes them.

    Every key containing ``loss``; a tensor counts by its mean, a list of tensors by the sum of
    their means. Other entries (accuracies, ...) are logged only and have no gradient.
    """
    terms = {}
    for key, value in losses.items():
        if 'loss' not in key:
            continue
        if isinstance(value, Tensor):
            terms[key] = value.mean()
        elif isinstance(value, (list, tuple)) and all(isinstance(v, Tensor) for v in value):
            terms[key] = sum(v.mean() for v in value)
        else:
            raise TypeError(f'loss term {key!r} is a {type(value).__name__}, expected a tensor '
                            'or a list of tensors')
    return terms


def group_names(name: str, depths: Sequence[int]) -> List[str]:
    """The groups of a parameter ``name``: its first ``d`` dotted components for each depth.

    ``segmentor.backbone.layer3.0.conv1.weight`` at depths (1, 2, 3) belongs to
    ``segmentor``, ``segmentor.backbone`` and ``segmentor.backbone.layer3``. A name shorter than
    a depth gives the module that holds it (the parameter's own name is never a group), so a
    group is always a module.
    """
    parts = name.split('.')[:-1] or name.split('.')
    groups = []
    for depth in depths:
        group = '.'.join(parts[:depth])
        if group not in groups:
            groups.append(group)
    return groups


def check_depths(depths: Sequence[int]) -> Tuple[int, ...]:
    depths = tuple(depths)
    if not depths or any(not isinstance(d, int) or d < 1 for d in depths):
        raise ValueError(f'term gradient depths must be positive ints (1: per child of the '
                         f'model, 2: per sub-module of a child, ...), got {depths!r}')
    return depths


def term_gradient_norms(terms: Mapping[str, Tensor], params: NamedParams,
                        depths: Sequence[int] = (1,), loss_scale: float = 1.0
                        ) -> Dict[str, float]:
    """``{'grad_norm/<group>/<term>': ||d term / d params of group||_2}`` and the same for the
    sum of the terms (``<term>`` = ``loss``).

    Args:
        terms: Scalar loss terms whose graphs are still alive; they are kept alive (the step's
            own backward follows).
        params: ``(name, parameter)`` of the parameters the step updates; a parameter a term
            does not reach has a zero gradient from it.
        depths: Group depths (see :func:`group_names`); 1 gives one group per child.
        loss_scale: The factor a mixed-precision step multiplies the loss by before its
            backward; each term is scaled the same way (so that half-precision gradients do
            not underflow) and its gradient divided by it again.

    Under ``torch.distributed`` each term's gradient is averaged over the ranks before its
    norm is taken, exactly as the step averages the gradient of the sum
    (:func:`mmuda.utils.all_reduce_gradients`): the norms are those of the gradient that
    updates the model. Every rank must call this with the same terms (it does: the same code
    path runs on every rank).
    """
    depths = check_depths(depths)
    names = [name for name, _ in params]
    tensors = [p for _, p in params]
    groups = OrderedDict()
    for i, name in enumerate(names):
        for group in group_names(name, depths):
            groups.setdefault(group, []).append(i)
    norms: Dict[str, float] = {}
    total = [torch.zeros_like(p) for p in tensors]
    for term, value in terms.items():
        grads = _term_gradient(value, tensors, loss_scale)
        all_reduce_mean_(grads)
        for t, g in zip(total, grads):
            t.add_(g)
        norms.update(_group_norms(grads, groups, term))
    norms.update(_group_norms(total, groups, TOTAL))
    return norms


def _term_gradient(term: Tensor, params: List[Tensor], loss_scale: float) -> List[Tensor]:
    """d term / d params (zeros where the term does not reach), the graph kept."""
    if term.dim() != 0:
        raise ValueError(f'a loss term must be a scalar, got shape {tuple(term.shape)}')
    if not term.requires_grad:
        return [torch.zeros_like(p) for p in params]
    grads = torch.autograd.grad(term * loss_scale if loss_scale != 1 else term, params,
                                retain_graph=True, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g / loss_scale if loss_scale != 1 else g
            for g, p in zip(grads, params)]


def _group_norms(grads: List[Tensor], groups: Mapping[str, List[int]], term: str
                 ) -> Dict[str, float]:
    """Euclidean norm over each group's gradients, summed in float64."""
    squares = [float(torch.linalg.vector_norm(g, dtype=torch.float64)) ** 2 for g in grads]
    return {f'{KEY_PREFIX}/{group}/{term}': math.sqrt(sum(squares[i] for i in members))
            for group, members in groups.items()}
