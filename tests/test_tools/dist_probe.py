"""A test-only hook: every rank saves its final weights, so tests can compare ranks."""
import os

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class DumpRankWeightsHook(Hook):

    def after_train(self, runner) -> None:
        model = getattr(runner.model, 'module', runner.model)
        path = os.path.join(runner.work_dir, f'rank{get_rank()}_weights.pt')
        torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, path)
