"""tools/analysis_tools/ldr_toy_table.py: the LDR toy ablation table from the sweeps' folders."""
import json
import shutil
from pathlib import Path

import pytest

from conftest import load_script

TABLE = load_script('tools/analysis_tools/ldr_toy_table.py')
MIOU = {'source_only': [10.0, 12.0], 'translation_only': [70.0, 75.0], 'pl': [72.0, 74.0],
        'norecon': [73.0, 76.0], 'ldr': [74.0, 77.5], 'norecon_stage0': [60.0, 61.0],
        'stage0': [62.0, 60.5], 'stage0_fmdetach': [65.0, 66.0], 'ldr_fmdetach': [71.0, 74.0]}


def grad_norms(ce: float, fm: float) -> dict:
    keys = dict(zip(['src.decode.loss_ce', 'rec.src.loss_fm', 'rec.tgt.loss_fm',
                     'rec.src.loss_vgg', 'rec.tgt.loss_vgg'], [ce, fm, 2 * fm, 0.5, 0.5]))
    return {TABLE.GRAD + k: v for k, v in keys.items()}


def write_run(run_dir: Path, miou: float, ce=(2.0, 0.5), grads=()) -> None:
    log = run_dir / '20261207_000000' / 'vis_data' / 'scalars.json'
    log.parent.mkdir(parents=True)
    rows = [{'iter': i + 1, TABLE.SOURCE_CE: v} for i, v in enumerate(ce)]
    rows += [{'iter': i + 1, **g} for i, g in enumerate(grads)]
    rows.append({'mIoU': miou - 1.0, 'step': 1})  # an earlier validation: the last one counts
    rows.append({'mIoU': miou, 'step': 2})
    log.write_text('\n'.join(json.dumps(r) for r in rows) + '\n')


def sweep(tmp_path: Path) -> Path:
    for name, values in MIOU.items():
        for seed, miou in enumerate(values):
            run_dir = tmp_path / name / f'seed{seed}'
            if name == 'translation_only':  # tools/test.py's metrics file
                metrics = run_dir / '20261207_000001' / '20261207_000001.json'
                metrics.parent.mkdir(parents=True)
                metrics.write_text(json.dumps({'mIoU': miou, 'aAcc': 90.0}))
            else:
                write_run(run_dir, miou, ce=(2.0, 3.5, 0.4) if name == 'ldr' else (2.0, 0.5),
                          grads=[grad_norms(1.0, 2.0), grad_norms(0.5, 5.0),
                                 grad_norms(2.0, 2.0)] if name == 'stage0' else ())
    return tmp_path


def test_sign_test_matches_the_binomial():
    assert TABLE.sign_test([1, 2, 3]) == pytest.approx(0.25)  # 2 * (1/8)
    assert TABLE.sign_test([1, -2, 3, 4, 5]) == pytest.approx(2 * 6 / 32)
    assert TABLE.sign_test([0, 0]) == 1.0
    assert TABLE.sign_test([1, -1]) == 1.0


def test_table_rows_deltas_and_source_ce(tmp_path):
    text = TABLE.render(sweep(tmp_path), [0, 1])
    assert '| source-only, raw target val | 10.00 | 12.00 | 11.00 (1.41) |' in text
    assert 'translated target val | 70.00 | 75.00 | 72.50 (3.54) |' in text
    # each rung against the one above: pl - translation_only = +2, -1
    assert '| pl - translation_only | +2.00 | -1.00 | +0.50 | 1/2 | 1.00 |' in text
    assert '| ldr - norecon | +1.00 | +1.50 | +1.25 | 2/2 | 0.50 |' in text
    assert '| stage0 - norecon_stage0 | +2.00 | -0.50 | +0.75 | 1/2 | 1.00 |' in text
    assert '| ldr | 2.000 / 0.400, max 3.500 | 2.000 / 0.400, max 3.500 |' in text
    # the detached variant: its rows, against LDR and against translation only, its source CE
    assert '| LDR (stage 1), real-pair features detached | 71.00 | 74.00 | 72.50 (2.12) |' in text
    assert '| ldr_fmdetach - ldr | -3.00 | -3.50 | -3.25 | 0/2 | 0.50 |' in text
    assert '| ldr_fmdetach - translation_only | +1.00 | -1.00 | +0.00 | 1/2 | 1.00 |' in text
    assert '| stage0_fmdetach | 2.000 / 0.500, max 2.000 |' in text
    # gradient ratios, medians over the logged rows: fm (2+4)/1, (5+10)/0.5, (2+4)/2 -> 6;
    # vgg 1/1, 1/0.5, 1/2 -> 1
    assert '| stage0 | feature matching 6.0x, perceptual 1.0x | feature matching 6.0x, ' \
        'perceptual 1.0x |' in text
    assert '| ldr | not run or not logged | not run or not logged |' in text


def test_out_replaces_only_its_section(tmp_path):
    page = tmp_path / 'page.md'
    page.write_text('# LDR toy\n\nprose\n\n<!-- begin ldr-toy-ablation -->\nold\n'
                    '<!-- end ldr-toy-ablation -->\n\nmore prose\n')
    TABLE.main([str(sweep(tmp_path / 'w')), '--seeds', '0', '1', '--out', str(page)])
    text = page.read_text()
    assert text.startswith('# LDR toy\n\nprose\n') and text.endswith('more prose\n')
    assert 'old' not in text and '| ldr - norecon |' in text and 'ldr_toy_table.py' in text


def test_a_missing_run_names_its_folder(tmp_path):
    root = sweep(tmp_path)
    for f in (root / 'pl' / 'seed1').rglob('*'):
        if f.is_file():
            f.unlink()
    with pytest.raises(SystemExit, match=r'pl/seed1/\*/vis_data/scalars.json'):
        TABLE.main([str(root), '--seeds', '0', '1'])


def test_runs_not_made_show_as_such(tmp_path):
    root = sweep(tmp_path)
    shutil.rmtree(root / 'norecon')
    text = TABLE.render(root, [0, 1])
    assert '| + output-space adversarial (stage 0 and 1, no reconstruction) | not run | ' \
        'not run | incomplete |' in text
    assert '| norecon - pl |  |  | not all runs made | | |' in text
    assert '| pl - translation_only | +2.00 | -1.00 |' in text
