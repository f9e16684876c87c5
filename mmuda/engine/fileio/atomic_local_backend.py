"""A local file backend whose writes are atomic: a reader sees the old file or the new one.

mmengine's ``LocalBackend.put`` opens the destination with ``'wb'`` and writes into it, so a
run killed (or a disk filling up) while a checkpoint is written leaves a truncated ``.pth`` under
the final name, which ``--resume`` then fails to load. Here the bytes go to a temporary file in
the same directory, are flushed to disk, and ``os.replace`` (atomic on POSIX and Windows within
one file system) moves them onto the destination; on failure the temporary file is removed.
"""
import os
import os.path as osp
import uuid
from pathlib import Path
from typing import Union

import mmengine
from mmengine.fileio import LocalBackend, register_backend

PathLike = Union[str, Path]


def atomic_write_bytes(data: bytes, path: PathLike) -> None:
    """Write ``data`` to ``path`` through a temporary sibling file and ``os.replace``.

    The temporary name starts with a dot and ends in ``.tmp``, so globs for ``*.pth`` never
    match it. The file is created with ``open`` (not ``mkstemp``) to get the usual permissions.
    """
    path = str(path)
    directory, name = osp.split(osp.abspath(path))
    mmengine.mkdir_or_exist(directory)
    tmp = osp.join(directory, f'.{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp')
    try:
        with open(tmp, 'xb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # also KeyboardInterrupt: never leave the temporary file behind
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(text: str, path: PathLike, encoding: str = 'utf-8') -> None:
    """:func:`atomic_write_bytes` for text."""
    atomic_write_bytes(text.encode(encoding), path)


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` with atomic ``put`` and ``put_text``; select it with
    ``backend_args=dict(backend='atomic_local')`` wherever mmengine takes ``backend_args``."""

    def put(self, obj: bytes, filepath: PathLike) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: PathLike, encoding: str = 'utf-8') -> None:
        atomic_write_text(obj, filepath, encoding)
