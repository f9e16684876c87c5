"""Load checkpoints safely: ``weights_only=True`` always, with an allow-list of what mmengine saves.

Every checkpoint mmuda loads goes through :func:`safe_torch_load`, which passes
``weights_only=True`` explicitly. torch's default is not relied on: torch < 2.6 defaults to
``weights_only=False`` (any pickled code runs), ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (the
workaround users set for mmengine's loading errors) turns the default off again on torch >= 2.6,
and ``torch.hub.load_state_dict_from_url`` passes ``weights_only=False`` itself.

mmengine 0.10.7 calls ``torch.load`` without the argument, so on torch >= 2.6 its own
checkpoints fail to load with the safe default: the ``message_hub``
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
from typing import IO, Any, Callable, Optional, Union

import torch

FileLike = Union[str, IO[bytes]]


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
    """Allow-list the globals of :func:`checkpoint_safe_globals`.

    The ``(function, pickled name)`` entries need torch >= 2.6 (torch 2.4/2.5 key every entry by
    its own ``__module__.__name__``), the floor :mod:`mmuda.utils.version_check` enforces.
    """
    torch.serialization.add_safe_globals(checkpoint_safe_globals())


def safe_torch_load(f: FileLike, map_location: Optional[Any] = None) -> Any:
    """``torch.load`` with ``weights_only=True`` passed explicitly: a pickled global outside
    torch's own types and :func:`checkpoint_safe_globals` is refused, whatever torch's default
    or ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` say."""
    return torch.load(f, map_location=map_location, weights_only=True)
