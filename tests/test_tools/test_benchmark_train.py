"""tools/analysis_tools/benchmark_train.py runs end to end (behaviour only, never wall time)."""
from pathlib import Path

import pytest

from conftest import REPO, TOY_ADAPTSEGNET, load_script

TOOL = REPO / 'tools/analysis_tools/benchmark_train.py'


def test_benchmark_reports_both_steps_and_their_ratio():
    tool = load_script(TOOL)
    row = tool.benchmark(str(TOY_ADAPTSEGNET), iters=1, warmup=0, scale=0.25, batch=1)
    assert row['method'] == 'AdaptSegNet' and row['source_size'] == '32x64'
    assert row['s_per_iter'] > 0 and row['source_only_s_per_iter'] > 0
    assert row['time_ratio'] == row['s_per_iter'] / row['source_only_s_per_iter']
    assert row['peak_mem_mb'] > 0
    table = tool.markdown([row], 1, 0)
    assert '| time ratio |' in table and 'AdaptSegNet' in table


def test_sizes_come_from_the_pipelines():
    tool = load_script(TOOL)
    assert tool.branch_size([dict(type='RandomCrop', crop_size=(512, 1024))], None) == (512, 1024)
    assert tool.branch_size([dict(type='Resize', scale=(1280, 720), keep_ratio=False)],
                            None) == (720, 1280)
    assert tool.branch_size([dict(type='LoadImageFromFile')], (128, 256)) == (128, 256)


def test_profile_table_lists_operators():
    tool = load_script(TOOL)
    from mmengine.config import Config
    cfg = Config.fromfile(str(TOY_ADAPTSEGNET))
    data = tool.synthetic_batch(cfg, 1, 0.25)
    table = tool.profile_table(cfg.model, cfg.optim_wrapper, data, iters=1, device='cpu')
    assert 'aten::' in table and 'Self CPU' in table


def test_all_skips_stages_without_adaptation():
    tool = load_script(TOOL)
    assert tool.is_adaptation(REPO / 'configs/fada/fada_dlv2-r18-toy_1xb4-400_toy-source_toy-'
                                     'target.py')
    for stage in ('fada/fada-warmup_dlv2-r18-toy_1xb4-200_toy-source_toy-target.py',
                  'fada/fada-sd_dlv2-r18-toy_1xb4-1600_toy-target-pseudo.py',
                  'source_only/source-only_dlv2-r18-toy_1xb4-600_toy-source_toy-target.py'):
        assert not tool.is_adaptation(REPO / 'configs' / stage), stage


def test_all_takes_one_default_config_per_method():
    tool = load_script(TOOL)
    configs, _ = tool.method_configs()
    names = {Path(c).name.split('_')[0] for c in configs}
    assert {'adaptsegnet', 'advent', 'minent', 'fada', 'ssf-dan', 'mada'} <= names
    assert not names & {'fada-hard', 'fada-binary', 'ssf-dan-nocar', 'ssf-dan-global'}


def test_channels_last_switch_reaches_both_models():
    tool = load_script(TOOL)
    from mmengine.config import Config
    cfg = Config.fromfile(str(TOY_ADAPTSEGNET))
    assert tool.apply_switches(cfg, amp=False, channels_last=True, device='cpu') == \
        ['channels_last']
    model, optim = tool.source_only_of(cfg)
    assert cfg.model.channels_last and model['channels_last']
    assert set(optim) == {'constructor', 'segmentor'}
    with pytest.raises(SystemExit, match='GPU'):
        tool.apply_switches(cfg, amp=True, channels_last=False, device='cpu')
    row = tool.benchmark(str(TOY_ADAPTSEGNET), iters=1, warmup=0, scale=0.25, batch=1,
                         channels_last=True)
    assert row['options'] == 'channels_last' and row['time_ratio'] > 0


def test_sections_of_a_page_are_replaced_in_place(tmp_path):
    write_section = load_script(TOOL).write_section  # tools/analysis_tools/benchmark_doc.py
    page = tmp_path / 'page.md'
    page.write_text('# Title\n\nprose before\n')
    write_section(str(page), 'toy', 'table 1')
    page.write_text(page.read_text() + '\nprose after\n')
    write_section(str(page), 'toy', 'table 2')
    text = page.read_text()
    assert 'table 1' not in text and text.count('table 2') == 1
    assert text.index('prose before') < text.index('table 2') < text.index('prose after')


def test_target_gets_labels_only_with_pseudo_labels():
    tool = load_script(TOOL)
    from mmengine.config import Config
    cfg = Config.fromfile(str(TOY_ADAPTSEGNET))
    data = tool.synthetic_batch(cfg, 1, 0.25)
    assert 'gt_sem_seg' not in data['data_samples']['target'][0]
    cfg.train_dataloader.dataset.target_labels = 'pseudo'
    data = tool.synthetic_batch(cfg, 1, 0.25)
    assert 'gt_sem_seg' in data['data_samples']['target'][0]


def test_plain_baseline_row_names_the_setting_and_both_times():
    tool = load_script(TOOL)
    row = tool.benchmark_plain(str(TOY_ADAPTSEGNET), iters=2, warmup=1, scale=0.25, batch=1)
    assert row['concat'] == 'on' and row['sizes'] == '32x64 / 32x64'
    assert row['optimizer'] == 'SGD' and row['dilations'] == (1, 2, 4)
    assert row['mmuda_s'] > 0 and row['plain_s'] > 0
    assert row['ratio'] == pytest.approx(row['mmuda_s'] / row['plain_s'])
    lo, hi = row['ratio_range']
    assert lo <= row['median_ratio'] <= hi
    table = tool.markdown_plain([row], 2, 1)
    assert '| mmuda / plain |' in table and '| on |' in table
    row = tool.benchmark_plain(str(TOY_ADAPTSEGNET), iters=1, warmup=0, scale=0.25, batch=1,
                               cfg_options={'model.concat_forward': False})
    assert row['concat'] == 'off'


def test_plain_baseline_refuses_what_the_plain_loop_does_not_implement():
    tool = load_script(TOOL)
    with pytest.raises(ValueError, match='AdaptSegNet'):
        tool.benchmark_plain(str(REPO / 'configs/fada/fada_dlv2-r18-toy_1xb4-400_toy-source_'
                                        'toy-target.py'), iters=1, warmup=0, scale=0.25,
                             batch=1)
    from mmengine.config import Config
    cfg = Config.fromfile(str(TOY_ADAPTSEGNET))
    cfg.optim_wrapper.discriminators.optimizer.type = 'SGD'
    with pytest.raises(ValueError, match='discriminators.optimizer.type'):
        tool.plain_settings(cfg)
