"""A test-only hook: the training process SIGKILLs itself right after iteration k.

Its priority is below the CheckpointHook's, so the checkpoint of iteration k is on disk; then
the process dies as a killed job does: no cleanup, no atexit, no final checkpoint.
"""
import os
import signal

from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class KillAtIterHook(Hook):

    priority = 'LOWEST'

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == self.iteration:  # runner.iter counts from 0 inside the hooks
            os.kill(os.getpid(), signal.SIGKILL)
