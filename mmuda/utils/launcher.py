"""Start distributed runs where mmengine's launcher cannot: CPU-only machines."""
import os

import torch
import torch.distributed as torch_dist


def init_cpu_distributed(launcher: str) -> bool:
    """Initialise a gloo process group for ``--launcher pytorch`` on a machine without CUDA.

    mmengine 0.10.7 calls ``torch.cuda.set_device`` before ``init_process_group`` and so fails
    on CPU-only machines; the Runner skips its own initialisation when a group exists. Returns
    whether a group was created here. NCCL needs GPUs, hence gloo whatever ``dist_cfg`` says.
    """
    if launcher != 'pytorch' or torch.cuda.is_available() or torch_dist.is_initialized():
        return False
    torch_dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                                  world_size=int(os.environ['WORLD_SIZE']))
    return True


def init_tool_distributed(launcher: str, dist_cfg: dict) -> None:
    """The process group of a dataset tool run with ``--launcher`` (pseudo labels, translation):
    gloo on CPU-only machines (:func:`init_cpu_distributed`), mmengine's ``init_dist`` with the
    config's ``env_cfg.dist_cfg`` otherwise; nothing for ``--launcher none``."""
    if launcher == 'none' or init_cpu_distributed(launcher) or torch_dist.is_initialized():
        return
    from mmengine.dist import init_dist
    init_dist(launcher, **dist_cfg)


def destroy_distributed() -> None:
    """Tear the default process group down at the end of a tool's ``main``, on every rank.

    Left to interpreter shutdown, a gloo group's worker threads can still hold finished work
    whose tensors need the GIL while Python is being finalised, and the process dies with
    SIGABRT after it has done its job (seen as a rare failure of the 2-process tests under
    load). PyTorch documents ``destroy_process_group`` at the end of ``main`` for this reason.
    A no-op without a group, so single-process runs call it too.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()
