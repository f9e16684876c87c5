"""Gradient averaging across ranks for models that do their own optimisation steps."""
from typing import Iterable, List

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
    all_reduce_mean_([p.grad for p in params if p.grad is not None])


def all_reduce_mean_(tensors: List[torch.Tensor]) -> None:
    """Replace every tensor by its mean over all ranks, in place, one flat buffer per
    dtype/device (one collective each). No-op on one process.

    Every rank must pass tensors of the same shapes in the same order.
    """
    if get_world_size() == 1:
        return
    buckets: dict = {}
    for t in tensors:
        buckets.setdefault((t.dtype, t.device), []).append(t)
    for bucket in buckets.values():
        flat = torch.cat([t.reshape(-1) for t in bucket])
        all_reduce(flat, op='mean')
        offset = 0
        for t in bucket:
            n = t.numel()
            t.copy_(flat[offset:offset + n].view_as(t))
            offset += n
