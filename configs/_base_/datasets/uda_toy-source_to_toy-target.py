# The embedded toy domains (mmuda/datasets/toy_domains.py; `python tools/generate_toy_domains.py`
# writes them): labelled "synthetic" source -> unlabelled "real" target, 128x256 images in the
# Cityscapes folder layout. Training pairs each source sample with a seeded random target one.
dataset_type = 'ToyStreetDataset'
data_root = 'data/toy_domains'
crop_size = (128, 256)
source_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=7),  # a label value outside the classes fails
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
# The target branch never loads annotations: target labels must not reach a training loss.
target_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=7),
    dict(type='PackSegInputs'),
]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in (0.75, 1.0, 1.25)],
        [dict(type='RandomFlip', prob=0.0, direction='horizontal'),
         dict(type='RandomFlip', prob=1.0, direction='horizontal')],
        [dict(type='LoadAnnotations')],
        [dict(type='CheckSegLabels', num_classes=7)],
        [dict(type='PackSegInputs')],
    ]),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='UDADataset',
        seed=0,
        source=dict(
            type=dataset_type,
            data_root=data_root + '/source',
            data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
            pipeline=source_pipeline),
        target=dict(
            type=dataset_type,
            data_root=data_root + '/target',
            data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
            pipeline=target_pipeline)))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root + '/target',
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
