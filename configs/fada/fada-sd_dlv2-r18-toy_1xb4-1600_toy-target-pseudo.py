# FADA self-distillation on the toy domains: a fresh toy model trained on the toy FADA model's
# argmax pseudo labels of the target train images, with the reference's augmentation scaled to
# the 128x256 images (random scale 0.5-1.5, half-size crop, flip, ColorJitter). The reference's
# fresh model starts from ImageNet; the toy model has no pretrained weights and learns from
# scratch, so it gets the from-scratch budget of the toy proxy stage (../mada/README.md): 1600
# iterations. With 600, three seeds gave 28.90 / 34.83 / 52.42 from teachers at 53-57.
#   python tools/generate_pseudo_labels.py \
#     configs/fada/fada_dlv2-r18-toy_1xb4-400_toy-source_toy-target.py \
#     work_dirs/fada_dlv2-r18-toy_1xb4-400_toy-source_toy-target/iter_600.pth \
#     --policy argmax --out-dir work_dirs/fada-toy_pseudo_labels
#   python tools/train.py configs/fada/fada-sd_dlv2-r18-toy_1xb4-1600_toy-target-pseudo.py
_base_ = [
    '../_base_/models/deeplabv2_r18-toy.py',
    '../_base_/datasets/uda_toy-source_to_toy-target.py',
    '../_base_/schedules/fada-sd_poly-31250_stop-20k.py',
    '../_base_/default_runtime.py',
]
pseudo_label_dir = 'work_dirs/fada-toy_pseudo_labels'
max_iters = 1600
crop_size = (64, 128)
# A plain segmentor's SegDataPreProcessor stacks a training batch by padding it to `size`.
model = dict(_base_.segmentor,
             data_preprocessor=dict(_base_.segmentor.data_preprocessor, size=crop_size))
model_wrapper_cfg = None
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(256, 128), ratio_range=(0.5, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='ColorJitter', brightness=0.5, contrast=0.5, saturation=0.5, hue=0.2),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type=_base_.dataset_type,
        data_root='',
        data_prefix=dict(img_path=_base_.data_root + '/target/leftImg8bit/train',
                         seg_map_path=pseudo_label_dir),
        pipeline=train_pipeline))
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
