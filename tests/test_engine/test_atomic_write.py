"""Every atomic writer of mmuda: umask permissions, fsync of the file and of its directory,
unique temporary names (two writers of one path do not clobber each other)."""
import io
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO, load_script
from mmuda.apis import inference, translate
from mmuda.datasets import convert, toy_domains
from mmuda.engine.fileio import AtomicLocalBackend
from mmuda.pseudo_labels import io as label_io
from mmuda.utils.atomic_write import temporary_name, temporary_target, up_to_date

RGB = np.full((4, 6, 3), 7, np.uint8)
GREY = np.full((4, 6), 3, np.uint8)


def model_converter_save(path: Path, value: int = 1) -> None:
    common = load_script(REPO / 'tools/model_converters/_common.py', 'converter_common')
    common.save_atomically({'state_dict': {'w': torch.full((2,), float(value))}}, str(path))


# name -> write(path, variant): every writer of a file that others read
WRITERS = {
    'pseudo label PNG': lambda p, v=0: label_io.write_png(str(p), GREY + v),
    'pseudo label JSON': lambda p, v=0: label_io.write_json(str(p), {'v': v}),
    'translated image': lambda p, v=0: translate.write_image(str(p), RGB + v),
    'inference PNG': lambda p, v=0: inference.save_png(p, RGB + v),
    'converted label': lambda p, v=0: convert.save_png_atomic(GREY + v, p),
    'class statistics': lambda p, v=0: convert.dump_json_atomic({'v': v}, p),
    'toy domain image': lambda p, v=0: toy_domains._save_png(RGB + v, p),
    'checkpoint (atomic_local backend)': lambda p, v=0: AtomicLocalBackend().put(bytes([v]) * 9, p),
    'converted weights': model_converter_save,
}
PNG_WRITERS = ['pseudo label PNG', 'translated image', 'inference PNG', 'converted label',
               'toy domain image']


def target(tmp_path: Path, name: str) -> Path:
    suffix = '.json' if 'JSON' in name or 'statistics' in name else \
        '.pth' if 'checkpoint' in name or 'weights' in name else '.png'
    return tmp_path / 'out' / f'file{suffix}'


@pytest.mark.parametrize('name', list(WRITERS))
def test_files_get_the_umask_permissions(name, tmp_path):
    """``tempfile.mkstemp`` creates 0o600 files: pseudo labels, translated images and converted
    weights were unreadable to the rest of a cluster group."""
    path = target(tmp_path, name)
    old = os.umask(0o027)
    try:
        WRITERS[name](path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


@pytest.mark.parametrize('name', list(WRITERS))
def test_the_file_and_its_directory_are_fsynced(name, tmp_path, monkeypatch):
    """A crash after os.replace may otherwise lose the rename (directory entry not on disk) or
    leave an empty file under the final name (data not on disk)."""
    synced, real_fsync, real_replace = [], os.fsync, os.replace

    def fsync(fd):
        synced.append(os.readlink(f'/proc/self/fd/{fd}'))
        real_fsync(fd)

    def replace(src, dst):
        synced.append(('replace', str(dst)))
        real_replace(src, dst)
    monkeypatch.setattr(os, 'fsync', fsync)
    monkeypatch.setattr(os, 'replace', replace)
    path = target(tmp_path, name)
    WRITERS[name](path)
    moved = synced.index(('replace', str(path)))
    assert any(temporary_target(Path(p).name) == path.name for p in synced[:moved])
    assert str(path.parent) in synced[moved + 1:]


@pytest.mark.parametrize('name', PNG_WRITERS)
def test_two_writers_of_one_path_do_not_clobber_each_other(name, tmp_path, monkeypatch):
    """A second writer of the same file starts while the first is half-way: with a fixed (or
    per-process) temporary name they shared one temporary file, the first writer's rest
    landed in the second's output and its rename failed. Each now has its own."""
    path = target(tmp_path, name)
    original = Image.Image.save
    state = dict(nested=False)

    def interleaved_save(self, fp, format=None, **kwargs):
        buffer = io.BytesIO()
        original(self, buffer, format=format or 'PNG', **kwargs)
        data = buffer.getvalue()
        own = isinstance(fp, (str, os.PathLike))
        f = open(fp, 'wb') if own else fp
        f.write(data[:len(data) // 2])
        f.flush()
        if not state['nested']:
            state['nested'] = True
            WRITERS[name](path, 1)  # the other writer, complete, while this one is half-way
        f.write(data[len(data) // 2:])
        if own:
            f.close()
    monkeypatch.setattr(Image.Image, 'save', interleaved_save)
    WRITERS[name](path, 0)
    monkeypatch.undo()
    assert int(np.asarray(Image.open(path)).max()) in (3, 7)  # the first writer's, complete
    assert not [p for p in path.parent.iterdir() if p.name.endswith('.tmp')]


def test_temporary_names_are_unique_hidden_and_traceable(tmp_path):
    names = {temporary_name(tmp_path / 'a.png') for _ in range(100)}
    assert len(names) == 100
    for name in names:
        assert Path(name).name.startswith('.a.png.') and name.endswith('.tmp')
        assert temporary_target(Path(name).name) == 'a.png'
    assert temporary_target('a.png') == '' and temporary_target('.a.png.tmp') == ''


def test_up_to_date_compares_with_every_source(tmp_path):
    source, output = tmp_path / 'in.png', tmp_path / 'out.png'
    assert not up_to_date(output, source)  # missing output
    source.write_bytes(b'1')
    output.write_bytes(b'2')
    os.utime(source, ns=(1_000_000_000, 1_000_000_000))
    os.utime(output, ns=(2_000_000_000, 2_000_000_000))
    assert up_to_date(output, source)
    os.utime(source, ns=(3_000_000_000, 3_000_000_000))  # the input changed since
    assert not up_to_date(output, source)
