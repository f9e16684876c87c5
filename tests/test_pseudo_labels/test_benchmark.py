"""tools/analysis_tools/benchmark_pseudo_labels.py: one worker per mode, in process, and the
table; the full benchmark (fresh processes, 100/1000 images) is run by hand."""
import argparse

import pytest

from conftest import REPO, load_script

TOOL = REPO / 'tools/analysis_tools/benchmark_pseudo_labels.py'


@pytest.fixture(scope='module')
def bench():
    return load_script(TOOL)


def test_worker_measures_each_mode_and_table_reports_ratios(bench, toy_root):
    results = [bench.worker(mode, 4, str(toy_root), str(bench.CONFIG)) for mode in bench.MODES]
    for r in results:
        assert r['images'] == 4 and r['seconds'] > 0 and r['peak'] >= r['start'] > 0
    assert not list(toy_root.glob('tmp*'))  # the workers' label directories are removed
    args = argparse.Namespace(sizes=[4], size=[32, 64], threads=1, config=str(bench.CONFIG))
    text = bench.table(results, args)
    rows = [line.split(' | ') for line in text.splitlines() if line.startswith('| 4 |')]
    assert [row[1] for row in rows] == list(bench.MODES)
    assert [row[2] for row in rows] == ['1', '1', '3']
    assert rows[0][5] == '1.00'  # inference is the reference
    proxy = results[2]
    assert proxy['reference'] > 0
    expected = proxy['seconds'] / 4 / 3 / proxy['reference']
    assert float(rows[2][5]) == pytest.approx(expected, abs=0.006)
