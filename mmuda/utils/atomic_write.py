"""Atomic, durable writes: a reader sees the old file or the new one, never part of one.

Every file mmuda writes for others to read (checkpoints, pseudo labels, translated images,
converted labels and weights, results) goes through :func:`atomic_write`:

* the bytes go to a temporary sibling file with a unique name (``.<name>.<pid>.<random>.tmp``:
  two writers of one path never share a temporary file, and globs for ``*.png`` or ``*.pth``
  never match it);
* it is created with ``open(..., 'xb')``, i.e. mode ``0o666`` minus the umask, like any other
  file (``tempfile.mkstemp`` would make it ``0o600``: unreadable to the rest of a cluster group);
* it is flushed and ``fsync``-ed, moved onto the destination with ``os.replace`` (atomic within
  one file system), and the directory is ``fsync``-ed so that the rename itself survives a
  crash;
* on any failure (also ``KeyboardInterrupt``) the temporary file is removed.
"""
import os
import os.path as osp
import uuid
from pathlib import Path
from typing import BinaryIO, Callable, Union

PathLike = Union[str, Path]
TEMPORARY_SUFFIX = '.tmp'


def temporary_name(path: PathLike) -> str:
    """A fresh temporary sibling of ``path``: hidden, unique, ending in ``.tmp``."""
    directory, name = osp.split(osp.abspath(str(path)))
    return osp.join(directory, f'.{name}.{os.getpid()}.{uuid.uuid4().hex[:12]}{TEMPORARY_SUFFIX}')


def temporary_target(filename: str) -> str:
    """The file name a temporary file of :func:`temporary_name` was written for, or ``''``."""
    if not (filename.startswith('.') and filename.endswith(TEMPORARY_SUFFIX)):
        return ''
    parts = filename[1:-len(TEMPORARY_SUFFIX)].rsplit('.', 2)
    return parts[0] if len(parts) == 3 else ''


def fsync_directory(directory: PathLike) -> None:
    """Flush a directory's entries (a rename into it) to disk; no-op where unsupported."""
    flags = os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0)
    try:
        fd = os.open(str(directory), flags)
    except OSError:  # e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def atomic_write(path: PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(file)`` on a temporary file, then move it onto ``path`` (see module doc)."""
    path = osp.abspath(str(path))
    directory = osp.dirname(path)
    os.makedirs(directory, exist_ok=True)
    tmp = temporary_name(path)
    try:
        with open(tmp, 'xb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # also KeyboardInterrupt: never leave the temporary file behind
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    fsync_directory(directory)


def atomic_write_bytes(data: bytes, path: PathLike) -> None:
    """:func:`atomic_write` of ``data``."""
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(text: str, path: PathLike, encoding: str = 'utf-8') -> None:
    """:func:`atomic_write` of ``text``."""
    atomic_write_bytes(text.encode(encoding), path)


def up_to_date(output: PathLike, *sources: PathLike) -> bool:
    """Whether ``output`` exists and was written after every one of ``sources`` was last
    modified: a tool that skips finished outputs (to resume an interrupted run) must redo one
    whose input changed since."""
    try:
        written = os.stat(output).st_mtime_ns
    except OSError:
        return False
    return all(os.stat(source).st_mtime_ns <= written for source in sources)
