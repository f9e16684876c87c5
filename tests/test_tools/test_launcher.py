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


def test_cli_resume_prefers_the_work_dirs_checkpoint_over_a_configs_load_from(tmp_path):
    from mmengine.config import Config

    from mmuda.utils import resolve_cli_resume

    def cfg(**kwargs):
        return Config(dict(work_dir=str(tmp_path), **kwargs))
    plain = cfg(load_from='warm.pth')
    resolve_cli_resume(plain, False)
    assert plain.resume is False and plain.load_from == 'warm.pth'
    own = cfg(load_from='warm.pth', resume=True)  # a config asking for mmengine's meaning
    resolve_cli_resume(own, False)
    assert own.resume is True and own.load_from == 'warm.pth'
    fresh_stage = cfg(load_from='warm.pth')
    resolve_cli_resume(fresh_stage, True)
    assert fresh_stage.resume is False and fresh_stage.load_from == 'warm.pth'
    (tmp_path / 'iter_3.pth').write_bytes(b'')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_3.pth'))
    stage = cfg(load_from='warm.pth')
    resolve_cli_resume(stage, True)
    assert stage.resume is True and stage.load_from == str(tmp_path / 'iter_3.pth')
    chosen = cfg(load_from='x.pth')  # --cfg-options load_from=x.pth --resume: resume from x
    resolve_cli_resume(chosen, True, {'load_from': 'x.pth'})
    assert chosen.resume is True and chosen.load_from == 'x.pth'
    auto = cfg()
    resolve_cli_resume(auto, True)
    assert auto.resume is True and auto.get('load_from') is None
