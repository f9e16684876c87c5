"""Gradient averaging across ranks for models that do their own optimisation steps."""
from typing import Iterable

import torch
from mmengine.dist import all_reduce, get_world_size


def all_reduce_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """Average the ``.grad`` of ``params`` over all ranks, in one flat buffer per dtype/device.

    This is what ``DistributedDataParallel`` does during backward. The UDA segmentors cannot use
    DDP's reducer: their forward passes go through the wrapped segmentor's submodules
    (``extract_feat``, each head), which a DDP wrapper cannot see, and DDP silently skips the
    reduction of gradients produced outside its ``forward``. Averaging explicitly between
    ``backward`` and ``step`` is exact for any forward structure. No-op on one process.

    Every rank must have gradients for the same parameters, which holds because all ranks run
    the same code path on equally shaped batches.
    """
    world_size = get_world_size()
    if world_size == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    buckets: dict = {}
    for g in grads:
        buckets.setdefault((g.dtype, g.device), []).append(g)
    for bucket in buckets.values():
        flat = torch.cat([g.reshape(-1) for g in bucket])
        all_reduce(flat, op='mean')
        offset = 0
        for g in bucket:
            n = g.numel()
            g.copy_(flat[offset:offset + n].view_as(g))
            offset += n
