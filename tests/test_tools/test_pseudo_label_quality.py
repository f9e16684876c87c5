"""tools/analysis_tools/pseudo_label_quality.py on hand-made label maps."""
import json
import math

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, load_script

TOOL = REPO / 'tools/analysis_tools/pseudo_label_quality.py'
IGNORE = 255


def write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)


@pytest.fixture
def folders(tmp_path):
    labels, gt = tmp_path / 'labels', tmp_path / 'gt'
    # image a: 4 pixels, 3 labelled (two right), gt has a class-2 pixel nobody labelled
    write(labels / 'city/a.png', [[0, 0], [1, IGNORE]])
    write(gt / 'city/a.png', [[0, 1], [1, 2]])
    # image b: 2 pixels, both labelled 2, one right; a gt pixel of IGNORE is not counted
    write(labels / 'city/b.png', [[2, 2]])
    write(gt / 'city/b.png', [[2, IGNORE]])
    (labels / 'pseudo_labels.json').write_text(json.dumps(dict(
        options=dict(num_classes=3), kept_pixels=dict(road=2, car=1, sky=2))))
    return labels, gt


def test_numbers_match_a_hand_count(folders, tmp_path, capsys):
    labels, gt = folders
    out = tmp_path / 'report' / 'quality.json'
    report = load_script(TOOL).main([str(labels), str(gt), '--out', str(out)])
    # labelled 5 of 6 pixels; scored (gt valid) 4; right: a(0,0) a(1,0) b(0,0) = 3
    assert report['coverage'] == pytest.approx(5 / 6)
    assert report['accuracy'] == pytest.approx(3 / 4)
    road, car, sky = (report['per_class'][n] for n in ('road', 'car', 'sky'))
    assert road['precision'] == pytest.approx(1 / 2) and road['recall'] == pytest.approx(1.0)
    assert car['precision'] == pytest.approx(1.0) and car['recall'] == pytest.approx(1 / 2)
    assert sky['precision'] == pytest.approx(1.0) and sky['recall'] == pytest.approx(1 / 2)
    assert road['iou_labelled'] == pytest.approx(1 / 2)  # 1 right / (2 as road + 1 gt - 1)
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert 'coverage 83.3%' in capsys.readouterr().out
    assert not list(out.parent.glob('*.tmp'))


def test_a_class_never_labelled_has_nan_precision(tmp_path):
    labels, gt = tmp_path / 'labels', tmp_path / 'gt'
    write(labels / 'a.png', [[0, IGNORE]])
    write(gt / 'a.png', [[0, 1]])
    report = load_script(TOOL).main([str(labels), str(gt), '--num-classes', '2'])
    assert math.isnan(report['per_class']['1']['precision'])
    assert report['per_class']['1']['recall'] == 0.0


def test_bad_input_names_the_file(folders, tmp_path):
    tool = load_script(TOOL)
    labels, gt = folders
    (gt / 'city/b.png').unlink()
    with pytest.raises(FileNotFoundError, match=r'city/b\.png: no ground truth'):
        tool.main([str(labels), str(gt)])
    write(gt / 'city/b.png', [[2, 2]])
    write(labels / 'city/b.png', [[7, 2]])
    with pytest.raises(ValueError, match=r'city/b\.png: pseudo label value 7'):
        tool.main([str(labels), str(gt)])
    write(gt / 'city/b.png', [[2, 2, 2]])
    with pytest.raises(ValueError, match=r'city/b\.png: pseudo labels \(1, 2\) vs ground'):
        tool.main([str(labels), str(gt)])
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(ValueError, match='--num-classes is needed'):
        tool.main([str(empty), str(gt)])
    with pytest.raises(FileNotFoundError, match='no label PNGs'):
        tool.main([str(empty), str(gt), '--num-classes', '3'])
