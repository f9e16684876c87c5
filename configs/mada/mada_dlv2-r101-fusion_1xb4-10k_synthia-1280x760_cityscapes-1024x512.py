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
# Evaluation: every stage of this method is evaluated at one resolution, the original 2048x1024
# at which the proxy stage (mada-proxy_*) trains and is evaluated, so that the gain of each
# stage is not mixed with a change of test resolution (configs/mada/README.md). `--tta`: 0.7,
# 1.0 and 1.3 of it, each also flipped.
eval_scale = (2048, 1024)
ms_ratios = (0.7, 1.0, 1.3)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=eval_scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale=(int(eval_scale[0] * r), int(eval_scale[1] * r)),
              keep_ratio=True) for r in ms_ratios],
        [dict(type='RandomFlip', prob=0.0, direction='horizontal'),
         dict(type='RandomFlip', prob=1.0, direction='horizontal')],
        [dict(type='LoadAnnotations')],
        [dict(type='PackSegInputs')],
    ]),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# Proxy labels (tools/generate_pseudo_labels.py) are inferred at the size this stage adapts
# the target at, 1024x512, not at the evaluation size: the discriminators judge 1024x512 target
# features during training, and their confidence map feeds the proxy selection.
pseudo_label_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 512), keep_ratio=False),
    dict(type='PackSegInputs'),
]
load_from = ('work_dirs/mada-warmup_dlv2-r101-fusion_1xb4-80k_synthia-1280x760_cityscapes-'
             '1024x512/iter_80000.pth')
