"""A malformed raw tree fails with one message naming every bad file, and nothing is written."""
import shutil

import cv2
import numpy as np
import pytest
from PIL import Image
from test_real_trees import (
    _grey_png,
    _palette_png,
    _rgb,
    converted_files,
    labelid_map,
    load_tool,
    write_crosscity,
    write_gta5,
    write_synthia,
)

from mmuda.datasets.convert import RawTreeError, convert_tree


def check_fails(tool: str, root, *expected: str, out_dir=None, builder=None) -> str:
    """Convert, expect a RawTreeError containing every ``expected`` text, and no output."""
    out_dir = out_dir or root
    tree = (builder or load_tool(tool).find_samples)(root, out_dir)
    with pytest.raises(RawTreeError) as info:
        convert_tree(tree, out_dir, progress=False)
    message = str(info.value)
    assert 'nothing was written' in message
    for text in expected:
        assert text in message, message
    assert converted_files(root) == [] and converted_files(out_dir) == []
    return message


def test_missing_folder(tmp_path):
    root = write_gta5(tmp_path)
    shutil.rmtree(root / 'labels')
    check_fails('gta5', root, 'missing folder: labels/')


def test_image_without_label_and_label_without_image(tmp_path):
    root = write_gta5(tmp_path)
    (root / 'labels' / '00002.png').unlink()
    (root / 'images' / '00003.png').unlink()
    check_fails('gta5', root, 'image without label: images/00002.png',
                'label without image: labels/00003.png')


def test_values_outside_the_label_map(tmp_path):
    root = write_gta5(tmp_path)
    ids = labelid_map(1)
    ids[3, 3], ids[4, 4] = 40, 77
    _palette_png(ids, root / 'labels' / '00001.png')
    check_fails('gta5', root, 'values outside the label map: labels/00001.png has 40, 77')


def test_gta5_label_saved_as_colour_image(tmp_path):
    root = write_gta5(tmp_path)
    _rgb(root / 'labels' / '00002.png')
    check_fails('gta5', root, 'malformed label: labels/00002.png is a 8-bit 3-channel PNG')


def test_synthia_8bit_label_is_reported(tmp_path):
    root = write_synthia(tmp_path)
    label = root / 'GT' / 'LABELS' / '0000001.png'
    Image.open(label).convert('RGB').save(label)  # what a re-save by an image tool does
    check_fails('synthia', root, 'malformed label: GT/LABELS/0000001.png is a 8-bit 3-channel',
                'expected a 16-bit 3-channel PNG')


def test_synthia_id_outside_the_map(tmp_path):
    root = write_synthia(tmp_path)
    label = root / 'GT' / 'LABELS' / '0000002.png'
    raw = cv2.imread(str(label), cv2.IMREAD_UNCHANGED)
    raw[0, 0, 2] = 300
    cv2.imwrite(str(label), raw)
    check_fails('synthia', root, 'values outside the label map: GT/LABELS/0000002.png has 300')


def test_synthia_size_mismatch_is_an_error(tmp_path):
    root = write_synthia(tmp_path)
    _rgb(root / 'RGB' / '0000000.png', h=20, w=40)
    check_fails('synthia', root, 'label size differs from its image: GT/LABELS/0000000.png '
                                 'is 32x16, RGB/0000000.png is 40x20')


def test_crosscity_size_mismatch_and_missing_city(tmp_path):
    root = write_crosscity(tmp_path, cities=('Rome', ))
    _grey_png(np.full((8, 8), 7), root / 'Rome' / 'Labels' / 'Test' / 'Rome_1_eval.png')
    check_fails('crosscity', root, 'label size differs from its image: '
                                   'Rome/Labels/Test/Rome_1_eval.png is 8x8',
                'missing folder: Rio/', 'missing folder: Tokyo/', 'missing folder: Taipei/',
                builder=load_tool('crosscity').make_tree_builder(['Rome', 'Rio', 'Tokyo',
                                                                  'Taipei']))


def test_crosscity_missing_test_labels(tmp_path):
    root = write_crosscity(tmp_path, cities=('Rome', ))
    shutil.rmtree(root / 'Rome' / 'Labels' / 'Test')
    check_fails('crosscity', root, 'missing folder: Rome/Labels/Test/',
                builder=load_tool('crosscity').make_tree_builder(['Rome']))


def test_unreadable_files(tmp_path):
    root = write_gta5(tmp_path, n=4)
    (root / 'labels' / '00001.png').write_bytes(b'not a png')
    truncated = root / 'labels' / '00002.png'
    truncated.write_bytes(truncated.read_bytes()[:60])  # header intact, pixels cut off
    (root / 'images' / '00003.png').write_bytes(b'')
    check_fails('gta5', root, 'unreadable label: labels/00001.png (not a PNG file)',
                'unreadable label: labels/00002.png', 'unreadable image: images/00003.png')


def test_every_problem_in_one_message_and_out_dir_untouched(tmp_path):
    root = write_gta5(tmp_path / 'raw', n=4)
    (root / 'labels' / '00001.png').unlink()
    ids = labelid_map(2)
    ids[0, 0] = 99
    _palette_png(ids, root / 'labels' / '00002.png')
    _rgb(root / 'labels' / '00003.png')
    out = tmp_path / 'out'
    message = check_fails('gta5', root, 'image without label: images/00001.png',
                          'labels/00002.png has 99', 'malformed label: labels/00003.png',
                          out_dir=out)
    assert '3 problem(s)' in message and not out.exists()


def test_cli_prints_the_problems_and_fails(tmp_path, capsys):
    root = write_gta5(tmp_path)
    (root / 'images' / '00002.png').unlink()
    assert load_tool('gta5').main([str(root)]) == 1
    assert 'label without image: labels/00002.png' in capsys.readouterr().out
    assert converted_files(root) == []
