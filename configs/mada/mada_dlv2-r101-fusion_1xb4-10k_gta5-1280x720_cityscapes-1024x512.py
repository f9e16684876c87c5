# Multi-adversarial training, GTA5 -> Cityscapes (paper 004, section 2.2; Table 3 "Mul-Adv":
# 42.7). Starts from the source-only stage (mada-warmup_*, 80k iterations) and runs 10k
# iterations at the constant lr 1e-4 (SGD and Adam). Batch 4 source + 4 target images on one
# GPU (the paper's batch 4; on N GPUs set train_dataloader.batch_size=4/N). GTA5 as the paper
# feeds it: short side resized to 720, a random 1280x720 crop; Cityscapes resized to 1024x512,
# whole image. Next: proxy labels (configs/mada/README.md) and mada-proxy_*.
_base_ = [
    '../_base_/models/deeplabv2_r101_fusion.py',
    '../_base_/datasets/uda_gta5-1280x720_to_cityscapes-1024x512.py',
    '../_base_/uda/mada.py',
    '../_base_/schedules/mada_constant-10k.py',
    '../_base_/default_runtime.py',
]
model = dict(segmentor=_base_.segmentor)
gta5_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegLabels', num_classes=19),
    dict(type='Resize', scale=(4096, 720), keep_ratio=True),  # short side 720
    dict(type='RandomCrop', crop_size=(720, 1280)),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=4, dataset=dict(source=dict(pipeline=gta5_pipeline)))
load_from = ('work_dirs/mada-warmup_dlv2-r101-fusion_1xb4-80k_gta5-1280x720_cityscapes-1024x512/'
             'iter_80000.pth')
