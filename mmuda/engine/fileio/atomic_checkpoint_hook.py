"""mmengine's CheckpointHook with atomic writes and rotation after a successful save."""
import os.path as osp
from typing import List

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmseg.registry import HOOKS

from mmuda.utils.atomic_write import atomic_write_text


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """A ``CheckpointHook`` after which a crash at any moment leaves a resumable work dir.

    Compared with mmengine 0.10.7's hook:

    * ``iter_N.pth`` (and best checkpoints) are written through :class:`AtomicLocalBackend`
      when the output is local and no ``backend_args`` are configured: never half a file under
      the final name;
    * ``last_checkpoint`` is replaced atomically (mmengine truncates it, then writes);
    * checkpoints beyond ``max_keep_ckpts`` are deleted *after* the new one and
      ``last_checkpoint`` are on disk. mmengine deletes first, so with ``max_keep_ckpts=1`` a
      failed save left no checkpoint at all and ``last_checkpoint`` naming a deleted file.

    Arguments are mmengine's ``CheckpointHook``'s.
    """

    def before_train(self, runner) -> None:
        out_dir = str(self.out_dir or runner.work_dir)
        if self.backend_args is None and self.file_client_args is None and '://' not in out_dir:
            self.backend_args = dict(backend='atomic_local')
        super().before_train(runner)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        stale = self._rotate(runner, step)
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir, filename, self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        atomic_write_text(self.last_ckpt, osp.join(runner.work_dir, 'last_checkpoint'))
        for old in stale:
            self._remove(self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old)))

    def _rotate(self, runner, step: int) -> List[int]:
        """Record ``step`` among the kept checkpoints (the new checkpoint's message hub carries
        the list) and return the steps that fall out, to delete once the save succeeded."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            return []
        stale = []
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            stale.append(self.keep_ckpt_ids.popleft())
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        return stale

    def _remove(self, path: str) -> None:
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # checkpoints saved by DeepSpeed are directories
            self.file_backend.rmtree(path)
