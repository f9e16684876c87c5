import pytest
from mmseg.registry import DATASETS


def _cfg(root, domain, pipeline, split='train', dataset_type='ToyStreetDataset'):
    return dict(type=dataset_type, data_root=str(root / domain),
                data_prefix=dict(img_path=f'leftImg8bit/{split}', seg_map_path=f'gtFine/{split}'),
                pipeline=pipeline)


LABELLED = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')]


def test_pairs_and_drops_target_labels(toy_root):
    ds = DATASETS.build(dict(type='UDADataset', seed=3,
                             source=_cfg(toy_root, 'source', LABELLED),
                             target=_cfg(toy_root, 'target', LABELLED)))
    assert len(ds) == 8 and ds.metainfo['classes'][0] == 'road'
    item = ds[2]
    assert set(item['inputs']) == set(item['data_samples']) == {'source', 'target'}
    assert 'gt_sem_seg' in item['data_samples']['source']
    # loaded by the pipeline, removed by the dataset: the target is unlabelled
    assert 'gt_sem_seg' not in item['data_samples']['target']
    assert '/target/' in item['data_samples']['target'].img_path


def test_target_choice_is_seeded_and_varies(toy_root):
    def build(seed):
        return DATASETS.build(dict(type='UDADataset', seed=seed,
                                   source=_cfg(toy_root, 'source', LABELLED),
                                   target=_cfg(toy_root, 'target', LABELLED)))
    a, b, c = build(0), build(0), build(1)
    picks = [a.target_index(i) for i in range(8)]
    assert picks == [b.target_index(i) for i in range(8)]
    assert picks != [c.target_index(i) for i in range(8)]
    assert len(set(picks)) > 1


def test_class_list_mismatch_is_an_error(toy_root):
    with pytest.raises(ValueError, match='class list'):
        DATASETS.build(dict(type='UDADataset',
                            source=_cfg(toy_root, 'source', LABELLED),
                            target=_cfg(toy_root, 'target', LABELLED,
                                        dataset_type='CityscapesDataset')))


@pytest.mark.parametrize('src_split,tgt_split', [('train', 'val'), ('val', 'train')])
def test_one_pass_uses_every_source_and_every_target(toy_root, src_split, tgt_split):
    ds = DATASETS.build(dict(type='UDADataset', seed=0,
                             source=_cfg(toy_root, 'source', LABELLED, split=src_split),
                             target=_cfg(toy_root, 'target', LABELLED, split=tgt_split)))
    n_src, n_tgt = len(ds.source), len(ds.target)
    assert len(ds) == max(n_src, n_tgt) == 8
    assert {ds.source_index(i) for i in range(len(ds))} == set(range(n_src))
    assert {ds.target_index(i) for i in range(len(ds))} == set(range(n_tgt))
    item = ds[7]
    assert item['data_samples']['source'].img_path == ds.source[7 % n_src]['data_samples'].img_path


def _pseudo_folder(root, target_root, status='complete'):
    """A label folder as tools/generate_pseudo_labels.py leaves it (labels + summary)."""
    import json
    import shutil
    folder = root / 'pseudo'
    shutil.copytree(target_root / 'gtFine/train', folder)
    (folder / 'pseudo_labels.json').write_text(json.dumps(dict(status=status)))
    return folder


def test_pseudo_labelled_target_keeps_its_labels(toy_root, tmp_path):
    folder = _pseudo_folder(tmp_path, toy_root / 'target')
    target = _cfg(toy_root, 'target', LABELLED)
    target['data_prefix']['seg_map_path'] = str(folder)
    ds = DATASETS.build(dict(type='UDADataset', target_labels='pseudo',
                             source=_cfg(toy_root, 'source', LABELLED), target=target))
    sample = ds[0]['data_samples']['target']
    assert 'gt_sem_seg' in sample and sample.seg_map_path.startswith(str(folder))


@pytest.mark.parametrize('status', [None, 'writing'])
def test_pseudo_labels_must_come_from_a_completed_pseudo_label_run(toy_root, tmp_path, status):
    """Ground-truth folders (no summary) and interrupted runs are refused."""
    target = _cfg(toy_root, 'target', LABELLED)
    if status is not None:
        target['data_prefix']['seg_map_path'] = str(
            _pseudo_folder(tmp_path, toy_root / 'target', status))
    with pytest.raises(FileNotFoundError, match='generate_pseudo_labels'):
        DATASETS.build(dict(type='UDADataset', target_labels='pseudo',
                            source=_cfg(toy_root, 'source', LABELLED), target=target))
    with pytest.raises(ValueError, match='target_labels'):
        DATASETS.build(dict(type='UDADataset', target_labels='gt',
                            source=_cfg(toy_root, 'source', LABELLED), target=target))
