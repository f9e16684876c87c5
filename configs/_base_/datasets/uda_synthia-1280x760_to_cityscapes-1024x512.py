# SYNTHIA-RAND-CITYSCAPES (labelled source, 1280x760) -> Cityscapes train (unlabelled target,
# resized to 1024x512), as AdaptSegNet trains: one source and one target image per iteration,
# no crop, no flip. Evaluation on the 500 Cityscapes val images: inference at 1024x512,
# prediction resized back to the 2048x1024 label by mmseg (ori_shape). Labels are Cityscapes'
# 19 trainIds (terrain, truck and train never occur in SYNTHIA): the papers report mIoU over 16
# classes and mIoU* over 13 (mmuda.datasets.label_maps.SYNTHIA_16 / SYNTHIA_13). See
# docs/dataset_prepare.md for the trees, the converters and class-balanced source sampling.
# The Cityscapes part (target images, val/test loaders, TTA) is ./cityscapes.py's.
_base_ = ['./cityscapes.py']
synthia_root = 'data/synthia'
source_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=19),  # a label value outside the classes fails
    dict(type='Resize', scale=(1280, 760), keep_ratio=False),
    dict(type='PackSegInputs'),
]
# The target branch never loads annotations: target labels must not reach a training loss.
target_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=False),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='UDADataset',
        seed=0,
        source=dict(
            type='SynthiaDataset',
            data_root=synthia_root,
            data_prefix=dict(img_path='RGB', seg_map_path='GT/LABELS'),
            pipeline=source_pipeline),
        target=dict(
            type='CityscapesDataset',
            data_root=_base_.data_root,
            data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
            pipeline=target_pipeline)))
# mIoU = the 13-class mIoU* of the SYNTHIA tables; mIoU16 and mIoU19 beside it, one matrix.
val_evaluator = dict(type='SubsetIoUMetric', subsets='synthia')
test_evaluator = val_evaluator
