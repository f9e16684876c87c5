# SYNTHIA-RAND-CITYSCAPES (labelled source, 1280x760) -> Cityscapes train (unlabelled target,
# resized to 1024x512), as AdaptSegNet trains: one source and one target image per iteration,
# no crop, no flip. Evaluation on the 500 Cityscapes val images: inference at 1024x512,
# prediction resized back to the 2048x1024 label by mmseg (ori_shape). Labels are Cityscapes'
# 19 trainIds (terrain, truck and train never occur in SYNTHIA): the papers report mIoU over 16
# classes and mIoU* over 13 (mmuda.datasets.label_maps.SYNTHIA_16 / SYNTHIA_13). See
# docs/dataset_prepare.md for the trees, the converters and class-balanced source sampling.
synthia_root = 'data/synthia'
cityscapes_root = 'data/cityscapes'
source_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(1280, 760), keep_ratio=False),
    dict(type='PackSegInputs'),
]
# The target branch never loads annotations: target labels must not reach a training loss.
target_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=False),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=False),
    dict(type='LoadAnnotations'),
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
            type='SynthiaDataset',
            data_root=synthia_root,
            data_prefix=dict(img_path='RGB', seg_map_path='GT/LABELS'),
            pipeline=source_pipeline),
        target=dict(
            type='CityscapesDataset',
            data_root=cityscapes_root,
            data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
            pipeline=target_pipeline)))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CityscapesDataset',
        data_root=cityscapes_root,
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# mIoU = the 13-class mIoU* of the SYNTHIA tables; mIoU16 and mIoU19 beside it, one matrix.
val_evaluator = dict(type='SubsetIoUMetric', subsets='synthia')
test_evaluator = val_evaluator
