"""mmuda.utils.launcher: the tools tear their process group down before the interpreter exits."""
import torch.distributed as torch_dist

from mmuda.utils import destroy_distributed


def test_destroy_distributed_tears_down_a_gloo_group(tmp_path):
    torch_dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}', rank=0,
                                  world_size=1)
    try:
        assert torch_dist.is_initialized()
        destroy_distributed()
        assert not torch_dist.is_initialized()
    finally:
        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()


def test_destroy_distributed_without_a_group_does_nothing():
    assert not torch_dist.is_initialized()
    destroy_distributed()
    assert not torch_dist.is_initialized()
