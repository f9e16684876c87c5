# FADA Cityscapes -> Cross-City Rome (paper 002, Table 1), adaptation stage. The paper gives
# no schedule of its own for Cross-City: the GTA5 one is used (lambda_adv 0.001, T 1.8).
# Source Cityscapes images are drawn class-balanced from the Cityscapes converter's statistics.
_base_ = [
    '../_base_/models/deeplabv2_r101-torchvision.py',
    '../_base_/datasets/uda_cityscapes-1024x512_to_crosscity-rome.py',
    '../_base_/uda/fada.py',
    '../_base_/schedules/fada_poly-62500_stop-40k.py',
    '../_base_/default_runtime.py',
]
model = dict(segmentor=_base_.segmentor)
train_dataloader = dict(
    batch_size=4,
    sampler=dict(_delete_=True, type='ClassBalancedSampler',
                 stats_file=_base_.cityscapes_root + '/class_stats_train.json'),
    dataset=dict(source=dict(pipeline=[*_base_.source_pipeline[:2], _base_.fada_source_jitter,
                                       *_base_.source_pipeline[2:]])))
load_from = ('work_dirs/fada-warmup_dlv2-r101-tv_1xb8-20k_cityscapes-1024x512_crosscity-rome/'
             'iter_20000.pth')
