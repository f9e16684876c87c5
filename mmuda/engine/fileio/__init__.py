from .atomic_checkpoint_hook import AtomicCheckpointHook
from .atomic_local_backend import AtomicLocalBackend
from .checkpoint_loader import CheckpointLoadError, RefusedCheckpointError, load_from_local
from .segmentor_weights import (
    SegmentorWeightsError,
    check_segmentor_weights,
    load_segmentor_weights,
)

__all__ = ['AtomicCheckpointHook', 'AtomicLocalBackend', 'CheckpointLoadError',
           'RefusedCheckpointError', 'SegmentorWeightsError', 'check_segmentor_weights',
           'load_from_local', 'load_segmentor_weights']
