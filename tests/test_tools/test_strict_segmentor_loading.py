"""Inference loads the segmentor strictly: a checkpoint whose segmentor weights do not fit the
config (another architecture, keys without the UDA prefix) is an error naming the keys, and
nothing is written. mmengine's non-strict loading only warned and predicted with random heads."""
import os
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from conftest import REPO, TOY_ADAPTSEGNET, TOY_SOURCE_ONLY, toy_cfg
from mmuda.apis import init_uda_model
from mmuda.engine.fileio import SegmentorWeightsError, load_segmentor_weights


@pytest.fixture(scope='module')
def files(toy_root, tmp_path_factory) -> dict:
    """A toy source-only config, a checkpoint that fits it, one of another architecture (a
    head with 5 classes, no auxiliary head, a foreign layer) and one without the prefix."""
    init_default_scope('mmseg')  # module fixtures run before the autouse one of conftest
    work = tmp_path_factory.mktemp('strict')
    cfg = toy_cfg(TOY_SOURCE_ONLY, toy_root, work / 'work')
    cfg.dump(str(work / 'cfg.py'))
    torch.manual_seed(0)
    state = MODELS.build(cfg.model).state_dict()
    torch.save(dict(state_dict=state, meta={}), work / 'fits.pth')
    other = {k: v for k, v in state.items() if 'auxiliary_head' not in k}
    other['segmentor.decode_head.branches.0.weight'] = torch.zeros(
        5, *state['segmentor.decode_head.branches.0.weight'].shape[1:])
    other['segmentor.neck.weight'] = torch.zeros(3)
    torch.save(dict(state_dict=other, meta={}), work / 'other.pth')
    plain = {k[len('segmentor.'):]: v for k, v in state.items()}
    torch.save(dict(state_dict=plain, meta={}), work / 'plain.pth')
    return dict(cfg=work / 'cfg.py', fits=work / 'fits.pth', other=work / 'other.pth',
                plain=work / 'plain.pth')


OTHER = (r'its segmentor weights do not fit the config\'s model: \d+ missing keys \('
         r'segmentor\.auxiliary_head\..*1 unexpected keys \(segmentor\.neck\.weight\); 1 shape '
         r'mismatches \(segmentor\.decode_head\.branches\.0\.weight \(checkpoint \(5, ')


def run(tool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / tool), *args], cwd=REPO,
                          env=dict(os.environ, OMP_NUM_THREADS='1'), capture_output=True,
                          text=True, timeout=300)


def test_generate_pseudo_labels_refuses_another_architecture(files, tmp_path):
    out = tmp_path / 'labels'
    proc = run('tools/generate_pseudo_labels.py', str(files['cfg']), str(files['other']),
               '--policy', 'argmax', '--out-dir', str(out), '--num-workers', '0')
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f'generate_pseudo_labels.py: error: checkpoint {files["other"]}: ')
    assert 'missing keys' in last and 'unexpected keys' in last and 'shape mismatches' in last
    assert not out.exists()  # nothing written
    print(f'\nMESSAGE {last}')


def test_test_tool_refuses_another_architecture(files, tmp_path):
    out = tmp_path / 'predictions'
    proc = run('tools/test.py', str(files['cfg']), str(files['other']), '--out', str(out),
               '--work-dir', str(tmp_path / 'work'))
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert f'SegmentorWeightsError: checkpoint {files["other"]}: its segmentor weights' in last
    assert not list(out.rglob('*'))  # mmseg's IoUMetric creates the folder; nothing is in it
    print(f'\nMESSAGE {last}')


def test_inference_api_refuses_another_architecture(files):
    with pytest.raises(SegmentorWeightsError, match=OTHER):
        init_uda_model(str(files['cfg']), str(files['other']))


def test_keys_without_the_uda_prefix_get_a_hint(files):
    model = MODELS.build(Config.fromfile(str(files['cfg'])).model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(SegmentorWeightsError, match=r'keys lack the "segmentor\." prefix of a '
                                                    r'UDA model: convert it with '
                                                    r'tools/model_converters/'):
        load_segmentor_weights(model, str(files['plain']))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing was loaded


def test_a_fitting_checkpoint_loads_and_other_children_may_differ(files, toy_root, tmp_path):
    """An AdaptSegNet checkpoint (with discriminators) into the source-only model: the
    segmentor fits, the discriminators are not the segmentor's business."""
    torch.manual_seed(1)
    method = MODELS.build(toy_cfg(TOY_ADAPTSEGNET, toy_root, tmp_path).model)
    torch.save(dict(state_dict=method.state_dict(), meta={}), tmp_path / 'method.pth')
    model = init_uda_model(str(files['cfg']), str(tmp_path / 'method.pth'))
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, method.state_dict()[key], rtol=0, atol=0)
    assert model.dataset_meta['classes'][0] == 'road'  # from the config without checkpoint meta
    assert init_uda_model(str(files['cfg']), str(files['fits'])).dataset_meta['classes']
