"""tools/analysis_tools/benchmark_ssd.py checks and times the three SS-D implementations
(behaviour only, never wall time)."""
import torch

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


def test_dense_copy_has_the_same_weights_and_runs_dense(monkeypatch):
    tool = load_script(TOOL)
    disc, dense = tool.build(3, 8, (4, 4, 4, 4))
    assert disc.sparse and not dense.sparse
    for p, q in zip(disc.parameters(), dense.parameters(), strict=True):
        assert torch.equal(p, q)
    feat, masks = tool.random_inputs(3, 8, (5, 6))
    assert SemanticSeparableDiscriminator._one_hot(masks)  # so the sparse path applies
    calls = []
    monkeypatch.setattr(SemanticSeparableDiscriminator, '_restricted_forward',
                        lambda self, x, m: calls.append(self))
    for fn in tool.implementations(disc, dense, feat, masks)[0][:2]:
        fn()
    assert calls == [disc]
