from .atomic_checkpoint_hook import AtomicCheckpointHook
from .atomic_local_backend import AtomicLocalBackend, atomic_write_bytes, atomic_write_text
from .checkpoint_loader import CheckpointLoadError, RefusedCheckpointError, load_from_local

__all__ = ['AtomicCheckpointHook', 'AtomicLocalBackend', 'atomic_write_bytes', 'atomic_write_text',
           'CheckpointLoadError', 'RefusedCheckpointError', 'load_from_local']
