# Proxy-label stage of the toy pipeline: a fresh toy DeepLab-v2 (random init: the toy has no
# ImageNet weights, so "train directly from the initialisation" as the paper prefers) trained
# with plain cross-entropy on the adversarial proxy labels of the toy target train images.
# Budget: the paper retrains for 60k iterations of 16 images, 2.7x the images of its 80k + 10k
# iterations of 4 before it; the toy pipeline before this stage is 600 iterations of 4, so this
# stage is 1600 iterations of 4 (600 stayed under the adapted model, configs/mada/README.md).
# The paper's augmentation scaled to the 128x256 toy images: random scale 0.7-1.3 of the image,
# a square crop (128x128: full height, half the width), no flip (the paper lists scale and
# crop only); SGD lr 1e-2 with poly 0.9 (the paper's) and the toy's 10x head lr.
#   python tools/generate_pseudo_labels.py \
#     configs/mada/mada_dlv2-r18-toy_1xb4-400_toy-source_toy-target.py \
#     work_dirs/mada_dlv2-r18-toy_1xb4-400_toy-source_toy-target/iter_400.pth \
#     --policy adversarial_proxy --p1 0.6 --p2 0.8 --out-dir work_dirs/mada-toy_proxy_labels
#   python tools/train.py configs/mada/mada-proxy_dlv2-r18-toy_1xb4-1600_toy-target-proxy.py
# Another label folder: --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=DIR
_base_ = [
    '../_base_/models/deeplabv2_r18-toy.py',
    '../_base_/datasets/uda_toy-source_to_toy-target.py',
    '../_base_/schedules/mada-proxy_poly-60k.py',
    '../_base_/default_runtime.py',
]
pseudo_label_dir = 'work_dirs/mada-toy_proxy_labels'
max_iters = 1600
crop_size = (128, 128)
model = dict(_base_.segmentor,
             data_preprocessor=dict(_base_.segmentor.data_preprocessor, size=crop_size))
model_wrapper_cfg = None  # a plain segmentor: mmengine's default DDP wrapper
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(256, 128), ratio_range=(0.7, 1.3), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
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
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=dict(decode_head=dict(lr_mult=10.0))))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=50),
                     checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
