"""Make checkpoints that mmengine saved loadable under torch's ``weights_only=True`` default.

torch >= 2.6 loads with ``weights_only=True`` unless told otherwise, and mmengine 0.10.7 calls
``torch.load`` without the argument. Its own checkpoints then fail to load: the ``message_hub``
state holds ``HistoryBuffer`` objects, numpy arrays and scalars, and the class-level dict of
HistoryBuffer statistics, whose functions (``HistoryBuffer.min`` ...) pickle as
``getattr(HistoryBuffer, 'min')``.

Instead of switching the safety off for every file (``weights_only=False`` runs arbitrary
pickled code), we allow-list exactly what mmengine writes. ``getattr`` itself is never allowed:
it reaches any attribute of any loaded object, which is enough to escape the sandbox. The pickle's
``getattr`` is resolved to :func:`history_buffer_getattr`, which answers only for the statistics
methods of ``HistoryBuffer`` and refuses everything else. A checkpoint carrying any other global
still fails with torch's own message.
"""
import pickle
from typing import Any, Callable

import torch


def _numpy_globals() -> list:
    import numpy as np
    try:  # numpy >= 2
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    dtype_classes = [type(np.dtype(t)) for t in
                     ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32',
                      'uint64', 'float16', 'float32', 'float64')]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, *dtype_classes]


def history_buffer_getattr(obj: Any, name: str) -> Callable:
    """``getattr`` restricted to ``HistoryBuffer``'s statistics methods (min, max, mean, ...)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    allowed = set(HistoryBuffer._statistics_methods) | {'min', 'max', 'mean', 'current'}
    if obj is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'mmuda refuses getattr({obj!r}, {name!r}) in a checkpoint: only the statistics '
        'methods of mmengine HistoryBuffer are allowed under weights_only loading')


def checkpoint_safe_globals() -> list:
    """Every global found in checkpoints saved by mmengine's ``CheckpointHook``."""
    from mmengine.logging.history_buffer import HistoryBuffer
    return [HistoryBuffer, *_numpy_globals(),
            (history_buffer_getattr, '__builtin__.getattr'),
            (history_buffer_getattr, 'builtins.getattr')]


def register_checkpoint_safe_globals() -> None:
    """Allow-list the globals of :func:`checkpoint_safe_globals` (no-op on torch < 2.4)."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:
        add_safe_globals(checkpoint_safe_globals())
