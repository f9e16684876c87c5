# Cross-City (NTHU), Rome: evaluation on the 100 labelled test images at 1024x512, the
# prediction resized back by mmseg to the full-size label. Labels are Cityscapes trainIds of
# the 13 annotated classes (tools/dataset_converters/crosscity.py); the other six classes never
# occur in them. The 3,200 train images are unlabelled: they are a UDA target (see
# uda_cityscapes-1024x512_to_crosscity-rome.py). crosscity_{rio,tokyo,taipei}.py change `city`.
dataset_type = 'CrossCityDataset'
data_root = 'data/NTHU_Datasets'
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
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        city='Rome',
        split='test',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# mIoU = the 13 annotated Cross-City classes (mIoU19 listed too), one confusion matrix.
val_evaluator = dict(type='SubsetIoUMetric', subsets='cross_city')
test_evaluator = val_evaluator
