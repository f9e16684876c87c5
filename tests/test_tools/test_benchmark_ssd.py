"""tools/analysis_tools/benchmark_ssd.py checks and times the three SS-D implementations
(behaviour only, never wall time)."""
from conftest import REPO, load_script
from mmuda.models.discriminators.semantic_separable_discriminator import (
    SemanticSeparableDiscriminator,
)

TOOL = REPO / 'tools/analysis_tools/benchmark_ssd.py'


def test_row_times_sparse_dense_and_loop(tmp_path):
    tool = load_script(TOOL)
    row = tool.benchmark('tiny', 3, 8, (4, 4, 4, 4), (5, 6), reps=1, warmup=0)
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert len(cells) == tool.HEADER.splitlines()[0].count('|') - 1 == 13
    assert cells[0] == 'tiny' and cells[8].endswith('x**') and cells[12].endswith('x**')


def test_dense_path_is_forced_only_inside_the_context():
    tool = load_script(TOOL)
    masks = tool.random_inputs(3, 8, (5, 6))[1]
    with tool.dense_path():
        assert not SemanticSeparableDiscriminator._one_hot(masks)
    assert SemanticSeparableDiscriminator._one_hot(masks)
