# FADA SYNTHIA -> Cityscapes, adaptation stage (paper 002, Table 2: 45.2 mIoU16, 52.5 mIoU13).
# The reference trains a 16-class classifier; mmuda keeps Cityscapes' 19 trainIds (terrain,
# truck and train never occur in SYNTHIA) and reports mIoU16 / mIoU13 from one confusion
# matrix, so one model config serves every pairing. Batch and per-GPU split as the GTA5 config.
_base_ = [
    '../_base_/models/deeplabv2_r101-torchvision.py',
    '../_base_/datasets/uda_synthia-1280x760_to_cityscapes-1024x512.py',
    '../_base_/uda/fada.py',
    '../_base_/schedules/fada_poly-62500_stop-40k.py',
    '../_base_/default_runtime.py',
]
model = dict(segmentor=_base_.segmentor)
train_dataloader = dict(
    batch_size=4,
    sampler=dict(_delete_=True, type='ClassBalancedSampler'),
    dataset=dict(source=dict(pipeline=[*_base_.source_pipeline[:2], _base_.fada_source_jitter,
                                       *_base_.source_pipeline[2:]])))
load_from = ('work_dirs/fada-warmup_dlv2-r101-tv_1xb8-20k_synthia-1280x760_cityscapes-1024x512/'
             'iter_20000.pth')
