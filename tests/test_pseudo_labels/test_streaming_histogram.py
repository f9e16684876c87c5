"""StreamingHistogram: quantiles match a full sort to one bin width, reduce, persist."""
from unittest import mock

import numpy as np
import pytest
import torch

from mmuda.utils.streaming_histogram import StreamingHistogram

LEVELS = (0.0, 0.01, 0.2, 0.5, 0.77, 0.99, 1.0)


def exact(values: np.ndarray, q: float) -> float:
    """The sorted-data quantile with the histogram's convention (inverse empirical CDF)."""
    return float(np.quantile(values, q, method='inverted_cdf'))


@pytest.mark.parametrize('bins', [1000, 4096])
def test_global_quantiles_match_full_sort(bins):
    gen = torch.Generator().manual_seed(0)
    chunks = [torch.rand(3, 17, 29, generator=gen) ** 3 for _ in range(5)]  # skewed, 5 updates
    hist = StreamingHistogram(bins=bins)
    for chunk in chunks:
        hist.update(chunk)
    data = torch.cat([c.reshape(-1) for c in chunks]).numpy()
    for q in LEVELS:
        assert abs(hist.quantile(q) - exact(data, q)) <= 1 / bins, q
    assert int(hist.totals()[0]) == data.size


def test_classwise_quantiles_with_mask_and_empty_class():
    gen = torch.Generator().manual_seed(1)
    values = torch.rand(4, 50, 60, generator=gen)
    classes = torch.randint(0, 3, values.shape, generator=gen)  # class 3 never occurs
    values[classes == 1] = values[classes == 1] * 0.3 + 0.6  # a different distribution
    mask = torch.rand(values.shape, generator=gen) > 0.25
    hist = StreamingHistogram(num_classes=4, bins=1000)
    for i in range(4):
        hist.update(values[i], classes[i], mask[i])
    for q in LEVELS:
        got = hist.quantiles(q)
        for c in range(3):
            sel = values[(classes == c) & mask].numpy()
            assert abs(float(got[c]) - exact(sel, q)) <= 1e-3, (q, c)
        assert torch.isnan(got[3])  # documented: an empty class has no quantile
    assert hist.totals().tolist() == [int(((classes == c) & mask).sum()) for c in range(4)]


def test_quantile_of_hand_made_data_interpolates_inside_the_bin():
    hist = StreamingHistogram(bins=10)
    hist.update(torch.tensor([0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95]))
    # 4 values lie below 0.4: the 0.4-quantile is the upper edge of the 4th bin
    assert hist.quantile(0.4) == pytest.approx(0.4)
    assert hist.quantile(0.45) == pytest.approx(0.45)  # half of bin [0.4, 0.5)
    assert hist.quantile(0.0) == pytest.approx(0.0)
    assert hist.quantile(1.0) == pytest.approx(1.0)
    sparse = StreamingHistogram(bins=10)
    sparse.update(torch.tensor([0.52, 0.95]))
    assert sparse.quantile(0.5) == pytest.approx(0.6)  # first value's bin [0.5, 0.6), its end


def test_values_at_the_range_ends_and_bad_input():
    hist = StreamingHistogram(num_classes=2, bins=4)
    hist.update(torch.tensor([0.0, 1.0, 1.0 + 1e-6]), torch.tensor([0, 1, 1]))
    assert hist.counts.tolist() == [[1, 0, 0, 0], [0, 0, 0, 2]]
    with pytest.raises(ValueError, match=r'values must lie in \[0, 1\]'):
        hist.update(torch.tensor([1.5]), torch.tensor([0]))
    with pytest.raises(ValueError, match=r'values must lie in \[0, 1\]'):
        hist.update(torch.tensor([float('nan')]), torch.tensor([0]))
    with pytest.raises(ValueError, match=r'classes must lie in \[0, 2\)'):
        hist.update(torch.tensor([0.5]), torch.tensor([255]))
    with pytest.raises(ValueError, match='needs `classes`'):
        hist.update(torch.tensor([0.5]))
    with pytest.raises(ValueError, match='quantile level'):
        hist.quantiles(1.5)
    assert hist.counts.sum() == 3  # failed updates added nothing


def test_state_dict_round_trip_and_mismatch():
    hist = StreamingHistogram(num_classes=3, bins=16)
    hist.update(torch.rand(100), torch.randint(0, 3, (100,)))
    other = StreamingHistogram(num_classes=3, bins=16)
    other.load_state_dict(hist.state_dict())
    assert torch.equal(other.counts, hist.counts)
    assert torch.equal(other.quantiles(0.3), hist.quantiles(0.3))
    with pytest.raises(ValueError, match='3 classes x 16 bins'):
        StreamingHistogram(num_classes=3, bins=8).load_state_dict(hist.state_dict())


def test_all_reduce_sums_the_shards_like_one_process():
    """Two 'ranks' each see half of the data; a mocked all_reduce sums their counts, as
    mmengine.dist.all_reduce(op='sum') does. The reduced histogram equals the single-process
    one, so thresholds are identical (the real 2-process run is in test_tool.py)."""
    gen = torch.Generator().manual_seed(2)
    values, classes = torch.rand(2, 1000, generator=gen), torch.randint(0, 5, (2, 1000),
                                                                        generator=gen)
    ranks = [StreamingHistogram(5, 64) for _ in range(2)]
    for r, hist in enumerate(ranks):
        hist.update(values[r], classes[r])
    single = StreamingHistogram(5, 64)
    single.update(values, classes)
    peers = [h.counts.clone() for h in ranks]

    def fake_all_reduce(tensor, op):
        assert op == 'sum' and tensor.dtype == torch.int64
        tensor.copy_(peers[0] + peers[1])

    with mock.patch('mmuda.utils.streaming_histogram.all_reduce', fake_all_reduce):
        for hist in ranks:
            hist.all_reduce()
    for hist in ranks:
        assert torch.equal(hist.counts, single.counts)
        assert torch.equal(hist.quantiles(0.5), single.quantiles(0.5))


def test_all_reduce_is_a_no_op_on_one_process():
    hist = StreamingHistogram(bins=8)
    hist.update(torch.tensor([0.1, 0.9]))
    before = hist.counts.clone()
    hist.all_reduce()
    assert torch.equal(hist.counts, before)
