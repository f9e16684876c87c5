"""Refuse a checkpoint whose segmentor weights do not fit the model (``load_from``,
``tools/test.py``, ``--resume``), before any of it is loaded."""
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from mmuda.engine.fileio.segmentor_weights import check_segmentor_weights


@HOOKS.register_module()
class SegmentorWeightsCheckHook(Hook):
    """mmengine's runner loads checkpoints non-strictly: a checkpoint of another architecture
    only warns, and evaluation (or training) then starts from a randomly initialised head. This
    hook checks the checkpoint the runner is about to load (``after_load_checkpoint`` fires
    between reading the file and loading it into the model): the segmentor's weights must all
    be there with the model's shapes, and no segmentor weight may be foreign. Discriminators
    and other children may differ (a source-only checkpoint starts a method's run). ``tools/
    train.py`` and ``tools/test.py`` add it to every config (``load_cli_config``).
    """

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        name = runner.cfg.get('load_from') or f'(latest in {runner.work_dir})'
        check_segmentor_weights(runner.model, checkpoint, name)
