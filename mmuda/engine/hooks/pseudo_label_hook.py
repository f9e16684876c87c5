"""Regenerate pseudo labels with the current model every N training iterations."""
import json
import os.path as osp
from typing import Optional, Union

from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from mmuda.pseudo_labels import PseudoLabelGenerator, resolve_dataset_cfg
from mmuda.pseudo_labels.io import to_json_compatible

CHECKPOINT_KEY = 'pseudo_labels'


@HOOKS.register_module()
class PseudoLabelHook(Hook):
    """Rewrites the pseudo-label files every ``interval`` iterations with the model being
    trained (all ranks, each on its shard, with :class:`PseudoLabelGenerator`).

    A training config reads the labels by pointing its target dataset's
    ``data_prefix.seg_map_path`` at ``out_dir``; datasets read label files at every
    ``__getitem__`` and files are replaced atomically, so new labels take effect on the next
    batches loaded (batches already prefetched by dataloader workers keep the old ones).

    The policy's statistics, thresholds and the summary of the last generation are saved in
    every checkpoint. On resume the hook compares them with ``pseudo_labels.json`` on disk: if
    the files on disk came from a later (or an interrupted) generation and the checkpoint was
    saved at the iteration of its generation, the labels are rewritten from the restored
    thresholds with the restored model, so the resumed run trains on exactly the labels of the
    uninterrupted one. Otherwise (no such checkpoint) they are regenerated with a warning.

    Args:
        interval: Regenerate after every ``interval`` training iterations.
        policy: Pseudo-label policy, e.g. ``dict(type='class_median', cap=0.9)``.
        out_dir: Root of the label files; default ``<work_dir>/pseudo_labels``.
        split_key: Dotted config key of the dataset to label (default: the target of the
            training ``UDADataset``), see :func:`resolve_dataset_cfg`.
        pipeline: Inference pipeline; default the test pipeline without annotations.
        generate_at_start: Also generate before the first iteration of a fresh run. Label
            files must exist before the training dataloader reads them, which with worker
            processes happens before any hook runs: then generate them with
            ``tools/generate_pseudo_labels.py`` first.
        batch_size, num_workers, vis: As in :class:`PseudoLabelGenerator`.
    """

    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW): a checkpoint holds the new state

    def __init__(self, interval: int, policy: Union[dict, object] = dict(type='class_median'),
                 out_dir: Optional[str] = None, split_key: Optional[str] = None,
                 pipeline: Optional[list] = None, generate_at_start: bool = False,
                 batch_size: int = 1, num_workers: int = 0, vis: int = 0) -> None:
        if int(interval) < 1:
            raise ValueError(f'PseudoLabelHook: interval must be >= 1, got {interval}')
        self.interval = int(interval)
        self.policy = policy
        self.out_dir = out_dir
        self.split_key, self.pipeline = split_key, pipeline
        self.generate_at_start = generate_at_start
        self.loader_options = dict(batch_size=batch_size, num_workers=num_workers, vis=vis)
        self.generator: Optional[PseudoLabelGenerator] = None
        self.last_summary: Optional[dict] = None
        self._restored: Optional[dict] = None

    # ------------------------------------------------------------------ lifecycle
    def before_run(self, runner) -> None:
        out_dir = self.out_dir or osp.join(runner.work_dir, 'pseudo_labels')
        dataset = resolve_dataset_cfg(runner.cfg, self.split_key, self.pipeline)
        self.generator = PseudoLabelGenerator(dataset, self.policy, out_dir, progress=False,
                                              **self.loader_options)

    def before_train(self, runner) -> None:
        if self._restored is not None and runner.iter > 0:
            self._resume(runner, self._restored)
        elif self.generate_at_start and runner.iter == 0:
            self._generate(runner, iteration=0)
        self._restored = None

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval):
            self._generate(runner, iteration=runner.iter + 1)

    def _generate(self, runner, iteration: int, reuse_statistics: bool = False) -> None:
        self.last_summary = self.generator.run(runner.model, dict(iteration=iteration),
                                               reuse_statistics=reuse_statistics)
        self._log(runner, 'regenerated' if not reuse_statistics else 'rewritten (resume)')

    def _log(self, runner, what: str) -> None:
        s = self.last_summary
        kept = sum(s['kept_pixels'].values()) / max(1, s['total_pixels'])
        thresholds = json.dumps(to_json_compatible(s['thresholds']))
        runner.logger.info(f'pseudo labels {what} at iteration {s["iteration"]} '
                           f'({s["policy"]}, {s["num_images"]} images, {kept:.1%} of pixels '
                           f'labelled) in {self.generator.out_dir}; thresholds: {thresholds}')

    # ------------------------------------------------------------------ checkpoints
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.generator is None or self.last_summary is None:
            return
        checkpoint[CHECKPOINT_KEY] = dict(labeler=self.generator.labeler.state_dict(),
                                          summary=self.last_summary)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the state for :meth:`before_train`, which applies it only when resuming (a
        ``load_from`` checkpoint starts at iteration 0 and generates afresh)."""
        self._restored = checkpoint.get(CHECKPOINT_KEY)

    def _resume(self, runner, state: dict) -> None:
        self.generator.labeler.load_state_dict(state['labeler'])
        self.last_summary = state['summary']
        if self._on_disk() == to_json_compatible(self.last_summary):
            self._log(runner, 'restored from the checkpoint, files on disk match,')
        elif self.last_summary['iteration'] == runner.iter:
            self._generate(runner, iteration=runner.iter, reuse_statistics=True)
        else:
            runner.logger.warning(
                f'pseudo labels in {self.generator.out_dir} do not match the checkpoint '
                f'(generated at iteration {self.last_summary["iteration"]}, whose weights are '
                f'not in the iteration-{runner.iter} checkpoint): regenerating them with the '
                'resumed model; save checkpoints at multiples of PseudoLabelHook.interval for '
                'an exact resume')
            self._generate(runner, iteration=runner.iter)

    def _on_disk(self) -> Optional[dict]:
        try:
            with open(self.generator.summary_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None
