# GTA5 (labelled source, resized to 1280x720) -> Cityscapes train (unlabelled target, resized to
# 1024x512), as AdaptSegNet trains: one source and one target image per iteration, no crop, no
# flip. Evaluation on the 500 Cityscapes val images: inference at 1024x512, prediction resized
# back to the 2048x1024 label by mmseg (ori_shape). See docs/dataset_prepare.md for the trees,
# the converters that write trainId labels, and class-balanced source sampling.
# The Cityscapes part (target images, val/test loaders, TTA) is ./cityscapes.py's.
_base_ = ['./cityscapes.py']
gta5_root = 'data/gta5'
source_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=19),  # a label value outside the classes fails
    dict(type='Resize', scale=(1280, 720), keep_ratio=False),
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
            type='GTA5Dataset',
            data_root=gta5_root,
            data_prefix=dict(img_path='images', seg_map_path='labels'),
            pipeline=source_pipeline),
        target=dict(
            type='CityscapesDataset',
            data_root=_base_.data_root,
            data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
            pipeline=target_pipeline)))
# 19-class mIoU (the GTA5 tables), with mIoU16/mIoU13 from the same confusion matrix.
val_evaluator = dict(type='SubsetIoUMetric', subsets='gta5')
test_evaluator = val_evaluator
