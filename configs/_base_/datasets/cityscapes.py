# Cityscapes with the UDA papers' sizes (not mmseg's crop-based recipe): training images
# resized to 1024x512; evaluation on the 500 val images at 1024x512, the prediction resized
# back by mmseg to the 2048x1024 label (ori_shape). Labels: *_gtFine_labelTrainIds.png, as
# tools/dataset_converters/cityscapes.py (or mmseg's converter) writes them.
dataset_type = 'CityscapesDataset'
data_root = 'data/cityscapes'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=19),
    dict(type='Resize', scale=(1024, 512), keep_ratio=False),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=False),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=19),
    dict(type='PackSegInputs'),
]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale=(int(1024 * r), int(512 * r)), keep_ratio=False)
         for r in (0.7, 1.0, 1.3)],
        [dict(type='RandomFlip', prob=0.0, direction='horizontal'),
         dict(type='RandomFlip', prob=1.0, direction='horizontal')],
        [dict(type='LoadAnnotations')],
        [dict(type='CheckSegLabels', num_classes=19)],
        [dict(type='PackSegInputs')],
    ]),
]
train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# 19-class mIoU, with mIoU16/mIoU13 reported from the same confusion matrix.
val_evaluator = dict(type='SubsetIoUMetric', subsets='cityscapes')
test_evaluator = val_evaluator
