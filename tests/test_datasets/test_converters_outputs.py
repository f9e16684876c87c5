"""What the converters write: trainId PNGs (atomically, re-runnably), the GTA5 size quirk, the
class statistics, ``--out-dir`` and ``--nproc``."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
from mmseg.registry import DATASETS
from PIL import Image
from test_real_trees import (
    H,
    W,
    _palette_png,
    _rgb,
    labelid_map,
    labelid_to_train,
    load_tool,
    synthia_map,
    synthia_to_train,
    write_crosscity,
    write_gta5,
    write_synthia,
)

from mmuda.datasets.convert import convert_tree, load_class_stats, read_png_header
from mmuda.datasets.label_maps import CLASSES
from mmuda.utils.atomic_write import temporary_name


def convert(tool, root, out_dir=None, nproc=1):
    out_dir = out_dir or root
    return convert_tree(load_tool(tool).find_samples(root, out_dir), out_dir, nproc=nproc,
                        progress=False)


def read(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_gta5_label_of_another_size_is_resized_and_reported(tmp_path):
    root = write_gta5(tmp_path, n=2, label_size={2: (H // 2, W // 2)})
    summary = convert('gta5', root)
    assert summary.resized == [f'labels/00002.png {W // 2}x{H // 2} -> {W}x{H}']
    assert 'were resized to it (nearest neighbour)' in str(summary)
    out = root / 'labels' / '00002_labelTrainIds.png'
    header = read_png_header(out)
    assert (header.size, header.bit_depth, header.channels) == ((H, W), 8, 1)
    small = labelid_to_train(labelid_map(2, H // 2, W // 2))
    assert np.array_equal(read(out), small.repeat(2, 0).repeat(2, 1))  # exact 2x nearest


def test_synthia_16bit_labels_become_8bit_trainids(tmp_path):
    root = write_synthia(tmp_path, n=2)
    convert('synthia', root)
    for k in range(2):
        out = root / 'GT' / 'LABELS' / f'{k:07d}_labelTrainIds.png'
        assert Image.open(out).mode == 'L'
        assert np.array_equal(read(out), synthia_to_train(synthia_map(k)))


def test_rerun_skips_finished_files_and_redoes_broken_ones(tmp_path):
    root = write_gta5(tmp_path, n=3)
    first = convert('gta5', root)
    assert (first.written, first.skipped) == (3, 0)
    outs = sorted((root / 'labels').glob('*_labelTrainIds.png'))
    stamps = [os.stat(p).st_mtime_ns for p in outs]
    stale = Path(temporary_name(root / 'labels' / '00003_labelTrainIds.png'))
    stale.write_bytes(b'half')  # left by a run killed with SIGKILL
    again = convert('gta5', root)
    assert (again.written, again.skipped) == (0, 3) and not stale.exists()
    assert [os.stat(p).st_mtime_ns for p in outs] == stamps
    outs[0].unlink()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(outs[1])  # not the image's size
    third = convert('gta5', root)
    assert (third.written, third.skipped) == (2, 1)
    for k, out in enumerate(outs, 1):
        assert np.array_equal(read(out), labelid_to_train(labelid_map(k)))


def test_a_changed_raw_label_or_an_edited_output_is_converted_again(tmp_path):
    """An output is kept only when it holds the conversion of its current raw label: a raw label
    rewritten after the conversion, or an output edited by hand (same size and encoding, other
    pixels), is written again; the untouched one is kept (same mtime)."""
    root = write_gta5(tmp_path, n=3)
    convert('gta5', root)
    outs = sorted((root / 'labels').glob('*_labelTrainIds.png'))
    stamp = os.stat(outs[2]).st_mtime_ns
    _palette_png(labelid_map(2), root / 'labels' / '00001.png')  # the source changed
    edited = (read(outs[1]) == 0).astype(np.uint8)
    Image.fromarray(edited).save(outs[1])  # same size and encoding, other content
    again = convert('gta5', root)
    assert (again.written, again.skipped) == (2, 1)
    assert np.array_equal(read(outs[0]), labelid_to_train(labelid_map(2)))
    assert np.array_equal(read(outs[1]), labelid_to_train(labelid_map(2)))
    assert os.stat(outs[2]).st_mtime_ns == stamp


def test_writes_are_atomic(tmp_path, monkeypatch):
    root = write_gta5(tmp_path, n=2)

    def killed(self, fp, *args, **kwargs):
        fp.write(b'\x89PNG partial')
        raise KeyboardInterrupt  # the run is killed in the middle of a write

    monkeypatch.setattr(Image.Image, 'save', killed)
    with pytest.raises(KeyboardInterrupt):
        convert('gta5', root)
    monkeypatch.undo()
    assert not list((root / 'labels').glob('*TrainIds*')) and not list(root.rglob('.*.tmp'))
    assert convert('gta5', root).written == 2


def test_class_stats_on_a_hand_made_example(tmp_path):
    a = np.array([[7, 7, 26, 0], [7, 7, 26, 26]])          # road 4, car 3, void 1
    b = np.array([[24, 24, 24, 24], [7, 7, 33, 255]])      # person 4, road 2, bicycle 1, -1
    for k, ids in enumerate((a, b), 1):
        _rgb(tmp_path / 'images' / f'{k:05d}.png', h=2, w=4)
        _palette_png(ids, tmp_path / 'labels' / f'{k:05d}.png')
    summary = convert('gta5', tmp_path)
    assert summary.stats_files == [tmp_path / 'class_stats.json']
    stats = load_class_stats(tmp_path / 'class_stats.json')

    def per_class(**counts):
        return [counts.get(c.replace(' ', '_'), 0) for c in CLASSES]

    key_a, key_b = 'labels/00001_labelTrainIds.png', 'labels/00002_labelTrainIds.png'
    images_per_class = [[] for _ in CLASSES]
    images_per_class[0] = [key_a, key_b]
    images_per_class[13] = [key_a]
    images_per_class[11] = [key_b]
    images_per_class[18] = [key_b]
    assert stats == dict(
        format='mmuda-class-stats', version=1, dataset='GTA5', classes=list(CLASSES),
        ignore_index=255, num_images=2, pixels=per_class(road=6, car=3, person=4, bicycle=1),
        ignored_pixels=2,
        images={key_a: per_class(road=4, car=3), key_b: per_class(road=2, person=4, bicycle=1)},
        images_per_class=images_per_class)


def test_load_class_stats_refuses_other_files(tmp_path):
    (tmp_path / 'x.json').write_text(json.dumps({'pixels': []}))
    with pytest.raises(ValueError, match='not a class-statistics file'):
        load_class_stats(tmp_path / 'x.json')
    (tmp_path / 'y.json').write_text(json.dumps({'format': 'mmuda-class-stats', 'version': 0}))
    with pytest.raises(ValueError, match='version 0, expected 1'):
        load_class_stats(tmp_path / 'y.json')


def test_out_dir_is_a_complete_data_root_and_raw_tree_stays_untouched(tmp_path):
    raw = write_gta5(tmp_path / 'raw', n=2)
    before = sorted(p.relative_to(raw) for p in raw.rglob('*'))
    out = tmp_path / 'out'
    convert('gta5', raw, out)
    assert sorted(p.relative_to(raw) for p in raw.rglob('*')) == before
    assert (out / 'images').is_symlink() and (out / 'class_stats.json').is_file()
    ds = DATASETS.build(dict(type='GTA5Dataset', data_root=str(out), pipeline=[],
                             data_prefix=dict(img_path='images', seg_map_path='labels')))
    assert len(ds) == 2 and os.path.isfile(ds.get_data_info(0)['seg_map_path'])


def test_worker_processes_give_the_same_result(tmp_path):
    one = write_gta5(tmp_path / 'one', n=4, label_size={3: (8, 16)})
    two = write_gta5(tmp_path / 'two', n=4, label_size={3: (8, 16)})
    convert('gta5', one, nproc=1)
    convert('gta5', two, nproc=2)
    for k in range(1, 5):
        name = f'labels/{k:05d}_labelTrainIds.png'
        assert np.array_equal(read(one / name), read(two / name))
    assert (one / 'class_stats.json').read_text() == (two / 'class_stats.json').read_text()


def test_crosscity_cli_converts_selected_cities(tmp_path, capsys):
    root = write_crosscity(tmp_path, cities=('Rome', 'Tokyo'))
    assert load_tool('crosscity').main([str(root), '--cities', 'Rome', 'Tokyo']) == 0
    out = capsys.readouterr().out
    assert 'Cross-City: 4 labels, 4 written' in out
    for city in ('Rome', 'Tokyo'):
        assert (root / city / 'class_stats_test.json').is_file()
        assert (root / city / 'Labels' / 'Test' / f'{city}_0_labelTrainIds.png').is_file()
