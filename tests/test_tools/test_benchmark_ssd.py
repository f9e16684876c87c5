"""tools/analysis_tools/benchmark_ssd.py checks and times the three SS-D implementations
(behaviour only, never wall time)."""
import importlib.util

from conftest import REPO
from mmuda.models.discriminators.semantic_separable_discriminator import (
    SemanticSeparableDiscriminator,
)


def load_tool():
    path = REPO / 'tools/analysis_tools/benchmark_ssd.py'
    spec = importlib.util.spec_from_file_location('benchmark_ssd', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_row_times_sparse_dense_and_loop(tmp_path):
    tool = load_tool()
    row = tool.benchmark('tiny', 3, 8, (4, 4, 4, 4), (5, 6), reps=1, warmup=0)
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert len(cells) == tool.HEADER.splitlines()[0].count('|') - 1 == 13
    assert cells[0] == 'tiny' and cells[8].endswith('x**') and cells[12].endswith('x**')


def test_dense_path_is_forced_only_inside_the_context():
    tool = load_tool()
    masks = tool.random_inputs(3, 8, (5, 6))[1]
    with tool.dense_path():
        assert not SemanticSeparableDiscriminator._one_hot(masks)
    assert SemanticSeparableDiscriminator._one_hot(masks)
