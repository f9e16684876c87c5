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
