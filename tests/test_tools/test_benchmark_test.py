"""tools/analysis_tools/benchmark_test.py runs both test loops (behaviour only, never time)."""
from conftest import REPO, TOY_ADAPTSEGNET, load_script, toy_cfg

TOOL = REPO / 'tools/analysis_tools/benchmark_test.py'


def test_uda_and_plain_test_loops_run_the_same_model_on_the_same_data(toy_root, tmp_path):
    tool = load_script(TOOL)
    cfg = toy_cfg(TOY_ADAPTSEGNET, toy_root, tmp_path / 'cfg')
    row = tool.benchmark(cfg, images=2, rounds=2, warmup=0, workers=0,
                         work_dir=str(tmp_path / 'work'))
    assert row['images'] == 2 and row['rounds'] == 2
    assert row['same_metrics'] and 'mIoU' in row['metrics']
    assert row['mmuda_img_s'] > 0 and row['mmseg_img_s'] > 0
    assert len(row['seconds']['mmuda']) == len(row['seconds']['mmseg']) == 2
    assert '| ratio (median of rounds) |' in tool.markdown([row])


def test_the_plain_runner_gets_the_bare_segmentor(tmp_path):
    tool = load_script(TOOL)
    from mmengine.config import Config
    cfg = Config.fromfile(str(TOY_ADAPTSEGNET))
    cfgs = tool.runner_cfgs(cfg, str(tmp_path), images=3, workers=0)
    assert cfgs['mmuda'].model.type == 'AdaptSegNet'
    assert cfgs['mmseg'].model.type == 'EncoderDecoder'
    assert cfgs['mmseg'].test_dataloader == cfgs['mmuda'].test_dataloader
    assert cfgs['mmuda'].test_dataloader.dataset.indices == 3
    assert cfgs['mmuda'].visualizer.name != cfgs['mmseg'].visualizer.name
