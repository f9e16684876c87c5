"""Every N iterations, the gradient norm of each loss term of the generator (segmentor) step."""
from typing import Optional, Sequence

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS

from mmuda.models.term_gradients import KEY_PREFIX, TOTAL, check_depths

JSON_FILE = 'term_grad_norms.json'


@HOOKS.register_module()
class TermGradientNormHook(Hook):
    """Logs how strongly each loss term pulls on the parameters of the generator step.

    At iteration 1 and every ``interval`` iterations the hook asks the model
    (:meth:`AlternatingModel.request_term_gradient_norms`) to measure, in that iteration's
    generator step (the segmentor step of every UDA method; LDR's also updates its
    reconstruction network M), the norm of the gradient of each loss term with respect to the
    parameters the step updates, per group (``depths``: 1 = per child such as ``segmentor``;
    2 = ``segmentor.backbone``, ``segmentor.decode_head``; 3 = backbone stages), plus the norm
    of the gradient of their sum (``loss``). Under DDP each term's gradient is first averaged
    over the ranks, as the step averages its gradient: the norms are those of the update.

    Cost: one extra backward per loss term on the measured iterations, none on the others
    (the model computes nothing unless asked). Off by default: add the hook to
    ``custom_hooks`` to switch it on::

        custom_hooks = [dict(type='TermGradientNormHook', interval=50, depths=(1, 3))]

    Output (rank 0), at step = iteration: the scalars ``grad_norm/<group>/<term>`` go to every
    backend of the runner's visualiser (``LocalVisBackend`` appends them to
    ``vis_data/scalars.json``, where ``tools/analysis_tools/plot_curves.py`` draws them, and to
    ``vis_data/term_grad_norms.json``), and one line per group to the log. They bypass the
    message hub on purpose: mmengine's log processor would average them with older values.
    How to read them: ``docs/visualization.md``.

    Args:
        interval: Measure every ``interval`` iterations (and at the first).
        depths: Parameter group depths, see above.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 50, depths: Sequence[int] = (1,)) -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'TermGradientNormHook interval must be an int >= 1, got '
                             f'{interval!r}')
        self.interval = interval
        self.depths = check_depths(depths)

    @staticmethod
    def _model(runner) -> nn.Module:
        """The model itself, also behind a model wrapper (``UDADataParallel``)."""
        return getattr(runner.model, 'module', runner.model)

    def before_train(self, runner) -> None:
        if not hasattr(self._model(runner), 'request_term_gradient_norms'):
            raise TypeError('TermGradientNormHook needs a model with alternating generator/'
                            'discriminator steps (mmuda AlternatingModel: every UDA method, '
                            f'the LDR translator and pre-training), got '
                            f'{type(self._model(runner)).__name__}')

    def due(self, runner) -> bool:
        """Whether the current iteration is measured: the first and every ``interval``-th."""
        return runner.iter == 0 or self.every_n_train_iters(runner, self.interval)

    def before_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None
                          ) -> None:
        if self.due(runner):
            self._model(runner).request_term_gradient_norms(self.depths)

    def after_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None,
                         outputs=None) -> None:
        norms = self._model(runner).pop_term_gradient_norms()
        if not norms:  # not a measured iteration, or its step was skipped (non-finite loss)
            return
        step = runner.iter + 1
        runner.visualizer.add_scalars(dict(norms, iter=step), step=step, file_path=JSON_FILE)
        for line in format_norms(norms):
            print_log(f'Iter(train) [{step}] {line}', logger='current')


def format_norms(norms: dict) -> list:
    """One log line per group: ``grad norm <group>: <term> <norm>, ..., total <norm>``."""
    by_group: dict = {}
    for key, value in norms.items():
        _, group, term = key.split('/', 2)
        by_group.setdefault(group, {})[term] = value
    lines = []
    for group, terms in by_group.items():
        total = terms.pop(TOTAL)
        parts = ', '.join(f'{term} {value:.4g}' for term, value in terms.items())
        lines.append(f'{KEY_PREFIX} {group}: {parts}; sum of terms {total:.4g}')
    return lines
