"""A local file backend whose writes are atomic: a reader sees the old file or the new one.

mmengine's ``LocalBackend.put`` opens the destination with ``'wb'`` and writes into it, so a
run killed (or a disk filling up) while a checkpoint is written leaves a truncated ``.pth`` under
the final name, which ``--resume`` then fails to load. Here every write goes through
:func:`mmuda.utils.atomic_write.atomic_write` (temporary sibling, fsync, ``os.replace``,
directory fsync; on failure the temporary file is removed).
"""
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

from mmuda.utils.atomic_write import atomic_write_bytes, atomic_write_text

PathLike = Union[str, Path]


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` with atomic ``put`` and ``put_text``; select it with
    ``backend_args=dict(backend='atomic_local')`` wherever mmengine takes ``backend_args``."""

    def put(self, obj: bytes, filepath: PathLike) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: PathLike, encoding: str = 'utf-8') -> None:
        atomic_write_text(obj, filepath, encoding)
