# FADA self-distillation (paper 002, Table 4: 46.9 -> 49.2 on GTA5 -> Cityscapes): a fresh
# ImageNet-initialised DeepLab-v2 trained with plain cross-entropy on the adapted model's hard
# argmax pseudo labels of the Cityscapes train images (reference-facts section 6).
# 1. pseudo labels (argmax, no threshold), written in the Cityscapes layout:
#      python tools/generate_pseudo_labels.py \
#        configs/fada/fada_dlv2-r101-tv_1xb4-40k_gta5-1280x720_cityscapes-1024x512.py \
#        work_dirs/fada_dlv2-r101-tv_1xb4-40k_gta5-1280x720_cityscapes-1024x512/iter_40000.pth \
#        --policy argmax --out-dir work_dirs/fada-gta5_pseudo_labels
# 2. python tools/train.py configs/fada/fada-sd_dlv2-r101-tv_1xb8-20k_cityscapes-pseudo-512x1024.py
# Another pseudo-label folder: --cfg-options \
#   train_dataloader.dataset.data_prefix.seg_map_path=DIR
# Reference recipe (configs/deeplabv2_r101_tgt_self_distill.yaml): BN trained (SyncBN across
# GPUs, batch 8 in all), random scale 0.5-1.5 of the 2048x1024 image, 512x1024 crop, flip,
# ColorJitter; evaluation at full resolution (INPUT_SIZE_TEST 2048x1024).
_base_ = [
    '../_base_/models/deeplabv2_r101-torchvision.py',
    '../_base_/datasets/cityscapes.py',
    '../_base_/schedules/fada-sd_poly-31250_stop-20k.py',
    '../_base_/default_runtime.py',
]
pseudo_label_dir = 'work_dirs/fada-gta5_pseudo_labels'
# A plain segmentor averages its gradients through mmengine's default DDP wrapper, not the
# UDA wrapper of default_runtime.py.
model_wrapper_cfg = None
crop_size = (512, 1024)
# A plain segmentor's SegDataPreProcessor stacks a training batch by padding it to `size`.
model = dict(_base_.segmentor,
             backbone=dict(_base_.segmentor.backbone,
                           norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False),
             data_preprocessor=dict(_base_.segmentor.data_preprocessor, size=crop_size))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='ColorJitter', brightness=0.5, contrast=0.5, saturation=0.5, hue=0.2),
    dict(type='PackSegInputs'),
]
full_res_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
# data_root '' so that both paths are relative to the working directory (the repository).
train_dataloader = dict(
    batch_size=8,
    dataset=dict(
        data_root='',
        data_prefix=dict(img_path=_base_.data_root + '/leftImg8bit/train',
                         seg_map_path=pseudo_label_dir),
        pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=full_res_test_pipeline))
test_dataloader = val_dataloader
# Multi-scale testing (tools/test.py --tta) at this model's own scale, as the reference test.py
# does it for the self-distilled model (INPUT_SIZE_TEST 2048x1024): the image at 0.7, 1.0 and
# 1.3 of 2048x1024, each also flipped, softmax averaged (fada-sd-mst_* names that row).
ms_ratios = (0.7, 1.0, 1.3)
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale=(int(2048 * r), int(1024 * r)), keep_ratio=False)
         for r in ms_ratios],
        [dict(type='RandomFlip', prob=0.0, direction='horizontal'),
         dict(type='RandomFlip', prob=1.0, direction='horizontal')],
        [dict(type='LoadAnnotations')],
        [dict(type='PackSegInputs')],
    ]),
]
val_evaluator = dict(type='SubsetIoUMetric', subsets='gta5')
test_evaluator = val_evaluator
