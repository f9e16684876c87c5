"""Config loading shared by the command-line tools."""
import os.path as osp
from typing import Optional

from mmengine.config import Config


def load_cli_config(path: str, launcher: str = 'none', cfg_options: Optional[dict] = None,
                    work_dir: Optional[str] = None) -> Config:
    """Load a config as mmseg's tools do: ``--cfg-options`` merged, ``work_dir`` defaulting to
    ``./work_dirs/<config name>``."""
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg


def resolve_cli_resume(cfg: Config, resume: bool, cfg_options: Optional[dict] = None) -> None:
    """Make ``--resume`` mean "the latest checkpoint in the work_dir", as its help says.

    mmengine resumes from ``load_from`` whenever it is set; a second stage's config (FADA,
    MADA) sets it to the warm-up checkpoint, so ``--resume`` would restart that stage from its
    warm-up, or fail on the optimisers the warm-up lacks. So with a checkpoint in the work_dir,
    resume from it; without one, start the stage as configured (from ``load_from``). mmengine's
    meaning stays where it is asked for: ``--cfg-options load_from=X --resume`` resumes from X,
    and a config's own ``resume=True`` is left alone.
    """
    if not resume:
        cfg.resume = cfg.get('resume', False)
        return
    cfg.resume = True
    if not cfg.get('load_from') or 'load_from' in (cfg_options or {}):
        return  # mmengine: auto-resume from the work_dir, or resume from the given file
    from mmengine.runner import find_latest_checkpoint
    work_dir = cfg.get('work_dir')
    latest = find_latest_checkpoint(work_dir) if work_dir and osp.isdir(work_dir) else None
    if latest is None:
        cfg.resume = False  # nothing of this stage yet: start it from load_from
    else:
        cfg.load_from = latest
