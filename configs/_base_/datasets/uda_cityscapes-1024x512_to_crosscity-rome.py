# Cityscapes train (labelled source, resized to 1024x512) -> Cross-City Rome train (3,200
# unlabelled images, resized to 1024x512), as AdaptSegNet's cross-city experiments train: one
# source and one target image per iteration, no crop, no flip. Evaluation on the 100 labelled
# Rome test images: inference at 1024x512, prediction resized back by mmseg to the full-size
# label. Cross-City labels hold the 13 annotated classes in Cityscapes trainIds. The other
# cities: uda_cityscapes-1024x512_to_crosscity-{rio,tokyo,taipei}.py change `city`.
# See docs/dataset_prepare.md for the trees, the converters and class-balanced sampling.
cityscapes_root = 'data/cityscapes'
crosscity_root = 'data/NTHU_Datasets'
city = 'Rome'
source_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=19),  # a label value outside the classes fails
    dict(type='Resize', scale=(1024, 512), keep_ratio=False),
    dict(type='PackSegInputs'),
]
# The target branch never loads annotations: target labels must not reach a training loss
# (the Cross-City train split has none anyway).
target_pipeline = [
    dict(type='LoadImageFromFile'),
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
        type='UDADataset',
        seed=0,
        source=dict(
            type='CityscapesDataset',
            data_root=cityscapes_root,
            data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
            pipeline=source_pipeline),
        target=dict(
            type='CrossCityDataset',
            data_root=crosscity_root,
            city=city,
            split='train',
            pipeline=target_pipeline)))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CrossCityDataset',
        data_root=crosscity_root,
        city=city,
        split='test',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# mIoU = the 13 annotated Cross-City classes (mIoU19 listed too), one confusion matrix.
val_evaluator = dict(type='SubsetIoUMetric', subsets='cross_city')
test_evaluator = val_evaluator
