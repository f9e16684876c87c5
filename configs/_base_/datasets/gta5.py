# GTA5 alone (labelled, synthetic): images/XXXXX.png with labels/XXXXX_labelTrainIds.png as
# tools/dataset_converters/gta5.py writes them, resized to 1280x720 as the UDA papers train.
# GTA5 has no validation split in the UDA protocol: a config training on it evaluates on a
# target (see uda_gta5-1280x720_to_cityscapes-1024x512.py). Class-balanced sampling: see
# docs/dataset_prepare.md.
dataset_type = 'GTA5Dataset'
data_root = 'data/gta5'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=19),
    dict(type='Resize', scale=(1280, 720), keep_ratio=False),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images', seg_map_path='labels'),
        pipeline=train_pipeline))
