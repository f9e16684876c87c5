# Multi-adversarial training, SYNTHIA -> Cityscapes (paper 004, section 2.2; the stage before
# the proxies of Table 2). Starts from mada-warmup_* (80k source-only iterations), 10k
# iterations at the constant lr 1e-4 (SGD and Adam), batch 4 + 4. SYNTHIA at its original
# 1280x760, whole image; Cityscapes at 1024x512. The model keeps Cityscapes' 19 trainIds;
# SubsetIoUMetric reports mIoU13 (mIoU*), mIoU16 and mIoU19 from one confusion matrix.
_base_ = [
    '../_base_/models/deeplabv2_r101_fusion.py',
    '../_base_/datasets/uda_synthia-1280x760_to_cityscapes-1024x512.py',
    '../_base_/uda/mada.py',
    '../_base_/schedules/mada_constant-10k.py',
    '../_base_/default_runtime.py',
]
model = dict(segmentor=_base_.segmentor)
train_dataloader = dict(batch_size=4)
load_from = ('work_dirs/mada-warmup_dlv2-r101-fusion_1xb4-80k_synthia-1280x760_cityscapes-'
             '1024x512/iter_80000.pth')
