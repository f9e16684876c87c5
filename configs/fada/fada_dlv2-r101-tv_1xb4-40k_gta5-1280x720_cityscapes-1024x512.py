# FADA GTA5 -> Cityscapes, adaptation stage (paper 002, Table 3: 46.9 before self-distillation).
# Batch: 4 source + 4 target images per iteration on one GPU, the reference's batch of 8. On N
# GPUs set train_dataloader.batch_size=4/N (e.g. `tools/dist_train.sh CONFIG 4
# --cfg-options train_dataloader.batch_size=1`): gradients are averaged over ranks.
# Starts from the warm-up stage (fada-warmup_*.py, 20k source-only iterations).
_base_ = [
    '../_base_/models/deeplabv2_r101-torchvision.py',
    '../_base_/datasets/uda_gta5-1280x720_to_cityscapes-1024x512.py',
    '../_base_/uda/fada.py',
    '../_base_/schedules/fada_poly-62500_stop-40k.py',
    '../_base_/default_runtime.py',
]
model = dict(segmentor=_base_.segmentor)
train_dataloader = dict(
    batch_size=4,
    # source images drawn class-balanced (statistics written by the GTA5 converter)
    sampler=dict(_delete_=True, type='ClassBalancedSampler'),
    dataset=dict(source=dict(pipeline=[*_base_.source_pipeline[:2], _base_.fada_source_jitter,
                                       *_base_.source_pipeline[2:]])))
load_from = ('work_dirs/fada-warmup_dlv2-r101-tv_1xb8-20k_gta5-1280x720_cityscapes-1024x512/'
             'iter_20000.pth')
