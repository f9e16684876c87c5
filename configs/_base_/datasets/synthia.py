# SYNTHIA-RAND-CITYSCAPES alone (labelled, synthetic): RGB/XXXXXXX.png with
# GT/LABELS/XXXXXXX_labelTrainIds.png as tools/dataset_converters/synthia.py writes them
# (Cityscapes trainIds; terrain, truck and train never occur), 1280x760. No validation split in
# the UDA protocol: a config training on it evaluates on a target (see
# uda_synthia-1280x760_to_cityscapes-1024x512.py).
dataset_type = 'SynthiaDataset'
data_root = 'data/synthia'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=19),
    dict(type='Resize', scale=(1280, 760), keep_ratio=False),
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
        data_prefix=dict(img_path='RGB', seg_map_path='GT/LABELS'),
        pipeline=train_pipeline))
