"""Continue a warm-up run's optimiser, lr schedule and iteration count in the next stage."""
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.optim import OptimWrapperDict
from mmengine.runner import IterBasedTrainLoop
from mmengine.runner.checkpoint import CheckpointLoader
from mmseg.registry import HOOKS

# Scheduler state that records progress, or is derived from begin/end, rather than the
# schedule the config states.
_NOT_COMPARED = frozenset({'last_step', '_global_step', 'base_values', '_last_value',
                           '_get_lr_called_within_step', 'verbose', 'total_iters'})


@HOOKS.register_module()
class WarmupContinuationHook(Hook):
    """Make a stage that starts from ``load_from`` carry on the warm-up's training run.

    ``load_from`` gives a second stage the warm-up's weights only: its optimiser starts with
    empty momentum, its lr schedule and iteration count start from zero. mmengine's ``resume``
    would restore them, but only when the two runs have the same optimisers: a source-only
    warm-up has none for the discriminators that the adaptation stage adds. This hook restores,
    for the named optimiser wrappers only, the optimiser state (SGD momentum, current lr) and the
    param-scheduler state from the checkpoint, and sets the iteration count to the
    checkpoint's, so the training loop skips the batches the warm-up consumed and the stage
    continues the warm-up's schedule to ``train_cfg.max_iters``. Wrappers not named (the
    discriminators') start fresh, with their own schedulers counting from zero.

    The checkpoint's optimiser settings and schedule win, as with ``resume``; a config whose
    optimiser (another base lr or weight decay) or schedule (another ``end``) for a named
    wrapper differs from the checkpoint's is refused, so the config says what runs. A run
    resumed from its own checkpoint (``--resume``) already has its state:
    the hook then does nothing.

    Args:
        optim_wrappers: Keys of the ``OptimWrapperDict`` to continue.
        checkpoint: The checkpoint whose optimiser and schedule to continue; default the
            config's ``load_from`` (the weights always come from ``load_from``).
    """

    priority = 'VERY_HIGH'  # before any hook reads the lr or the iteration

    def __init__(self, optim_wrappers: Sequence[str] = ('segmentor', ),
                 checkpoint: Optional[str] = None) -> None:
        if isinstance(optim_wrappers, str) or not optim_wrappers:
            raise ValueError('WarmupContinuationHook: optim_wrappers must be a non-empty list '
                             f'of OptimWrapperDict keys, got {optim_wrappers!r}')
        self.optim_wrappers = tuple(optim_wrappers)
        self.checkpoint = checkpoint

    def before_train(self, runner) -> None:
        if runner.iter > 0:  # resumed from this stage's own checkpoint
            return
        if not isinstance(runner.optim_wrapper, OptimWrapperDict):
            raise TypeError('WarmupContinuationHook continues named wrappers of an '
                            'OptimWrapperDict (a UDA segmentor\'s optim_wrapper); this config '
                            'has a single optimiser: use `resume` instead')
        if not isinstance(runner.train_loop, IterBasedTrainLoop):
            raise TypeError('WarmupContinuationHook continues an iteration count: train_cfg '
                            f'must be iteration-based, got {type(runner.train_loop).__name__}')
        filename = self.checkpoint or runner.cfg.get('load_from')
        if not filename:
            raise ValueError('WarmupContinuationHook needs the warm-up checkpoint: set '
                             '`load_from` (or the hook\'s `checkpoint`)')
        ckpt = CheckpointLoader.load_checkpoint(filename, map_location='cpu')
        iteration = self._checked_iteration(ckpt, filename, runner.max_iters)
        for name in self.optim_wrappers:
            self._load_optimizer(runner, ckpt, filename, name)
            # OptimWrapperDict's own initialize_count_status (called by the Runner) is a no-op
            runner.optim_wrapper[name].initialize_count_status(runner.model, iteration,
                                                               runner.max_iters)
            self._load_schedulers(runner, ckpt, filename, name)
        runner.train_loop._iter = iteration
        runner.message_hub.update_info('iter', iteration)
        runner.logger.info(f'Continuing {", ".join(self.optim_wrappers)} from {filename}: '
                           f'optimiser and lr schedule restored, training iterations '
                           f'{iteration}-{runner.max_iters}')

    @staticmethod
    def _checked_iteration(ckpt: dict, filename: str, max_iters: int) -> int:
        missing = [k for k in ('meta', 'optimizer', 'param_schedulers') if k not in ckpt]
        if missing or 'iter' not in ckpt['meta']:
            raise KeyError(f'{filename} has no {", ".join(missing) or "meta.iter"}: '
                           'WarmupContinuationHook needs a checkpoint saved by '
                           'CheckpointHook during training (save_optimizer and '
                           'save_param_scheduler on)')
        iteration = int(ckpt['meta']['iter'])
        if iteration >= max_iters:
            raise ValueError(f'train_cfg.max_iters ({max_iters}) must exceed the iteration of '
                             f'the warm-up checkpoint {filename} ({iteration}): the stage '
                             'continues the warm-up\'s iteration count')
        return iteration

    @classmethod
    def _load_optimizer(cls, runner, ckpt: dict, filename: str, name: str) -> None:
        saved, wrappers = ckpt['optimizer'], runner.optim_wrapper
        if name not in saved or name not in wrappers:
            raise KeyError(
                f'WarmupContinuationHook: optimiser wrapper {name!r} must be in both the '
                f'config (has {sorted(wrappers.keys())}) and {filename} (has '
                f'{"a single optimiser" if "param_groups" in saved else sorted(saved)})')
        cls._check_param_groups(wrappers[name].optimizer.param_groups,
                                saved[name].get('param_groups', []), filename, name)
        wrappers[name].load_state_dict(saved[name])

    @staticmethod
    def _check_param_groups(current: list, saved: list, filename: str, name: str) -> None:
        """Loading the state replaces every group setting, so refuse a config that states
        other ones (the current lr is progress and may differ; ``initial_lr`` is the base lr)."""
        if len(current) != len(saved) or any(
                len(c['params']) != len(s['params']) for c, s in zip(current, saved)):
            raise ValueError(f'optim_wrapper.{name} builds other parameter groups than the '
                             f'optimiser saved in {filename}: the same model and paramwise_cfg '
                             'are needed to continue it')
        for index, (group, state) in enumerate(zip(current, saved)):
            for key, value in group.items():
                if key not in ('params', 'lr') and key in state and state[key] != value:
                    shown = 'base lr (initial_lr)' if key == 'initial_lr' else key
                    raise ValueError(
                        f'optim_wrapper.{name}: the {shown} of parameter group {index} is '
                        f'{value!r} in the config but {state[key]!r} in {filename}: the stage '
                        'continues the warm-up\'s optimiser, so state the same settings')

    @staticmethod
    def _load_schedulers(runner, ckpt: dict, filename: str, name: str) -> None:
        saved = ckpt['param_schedulers'].get(name, [])
        current = (runner.param_schedulers or {}).get(name, [])
        if len(saved) != len(current):
            raise ValueError(f'param_scheduler.{name} has {len(current)} scheduler(s) but '
                             f'{filename} saved {len(saved)}: the stage continues the '
                             'warm-up\'s schedule, so the config must state the same one')
        for index, (scheduler, state) in enumerate(zip(current, saved)):
            for key, value in scheduler.state_dict().items():
                if key not in _NOT_COMPARED and state.get(key) != value:
                    raise ValueError(
                        f'param_scheduler.{name}[{index}].{key} is {value!r} in the config '
                        f'but {state.get(key)!r} in {filename}: the stage continues the '
                        f'warm-up\'s schedule, so set it to {state.get(key)!r}')
            scheduler.load_state_dict(state)
