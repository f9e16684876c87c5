# Proxy-label stage, GTA5 -> Cityscapes (paper 004, sections 2.3 and 3.2; Table 3 "Mul-Adv +
# Proxy": 49.8): a fresh FusionDecoder DeepLab-v2 from ImageNet weights (set the backbone's
# init_cfg, see configs/_base_/models/deeplabv2_r101-torchvision.py), trained with plain
# cross-entropy on the adversarial proxy labels of the Cityscapes train images only: batch 16,
# 640x640 crops, random scale 0.7-1.3 of the original 2048x1024 image, 60k iterations, SGD from
# 1e-2 with poly. BN trained (SyncBN across GPUs), the paper's "more standard training protocol"
# with a batch of 16. Evaluation at the original resolution (`eval_scale`), as every stage of
# this method is evaluated.
# 1. proxy labels from the multi-adversarial checkpoint (p1 0.6, p2 0.8: Table 4's best):
#      python tools/generate_pseudo_labels.py \
#        configs/mada/mada_dlv2-r101-fusion_1xb4-10k_gta5-1280x720_cityscapes-1024x512.py \
#        work_dirs/mada_dlv2-r101-fusion_1xb4-10k_gta5-1280x720_cityscapes-1024x512/iter_10000.pth \
#        --policy adversarial_proxy --p1 0.6 --p2 0.8 --out-dir work_dirs/mada-gta5_proxy_labels
# 2. python tools/train.py configs/mada/mada-proxy_dlv2-r101-fusion_1xb16-60k_cityscapes-gta5-proxy-640x640.py
# Another label folder (Table 4's grid, the single-discriminator proxies): --cfg-options
#   train_dataloader.dataset.data_prefix.seg_map_path=DIR
# On N GPUs: tools/dist_train.sh CONFIG N --cfg-options train_dataloader.batch_size=16/N.
_base_ = [
    '../_base_/models/deeplabv2_r101_fusion.py',
    '../_base_/datasets/cityscapes.py',
    '../_base_/schedules/mada-proxy_poly-60k.py',
    '../_base_/default_runtime.py',
]
pseudo_label_dir = 'work_dirs/mada-gta5_proxy_labels'
proxy_scale = (2048, 1024)  # "the original size" the random scale 0.7-1.3 applies to
crop_size = (640, 640)
# Evaluation at the resolution of every stage of this method (see mada_*.py), and multi-scale
# inference (tools/test.py --tta) at 0.7 / 1.0 / 1.3 of it, each with its flip.
eval_scale = (2048, 1024)
ms_ratios = (0.7, 1.0, 1.3)
model = dict(
    _base_.segmentor,
    data_preprocessor=dict(_base_.segmentor.data_preprocessor, size=crop_size),
    backbone=dict(_base_.segmentor.backbone, norm_cfg=dict(type='SyncBN', requires_grad=True),
                  norm_eval=False))
# A plain segmentor averages its gradients through mmengine's default DDP wrapper.
model_wrapper_cfg = None
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=proxy_scale, ratio_range=(0.7, 1.3), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='PackSegInputs'),
]
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
# data_root '' so that both paths are relative to the working directory (the repository).
train_dataloader = dict(
    batch_size=16,
    dataset=dict(
        data_root='',
        data_prefix=dict(img_path=_base_.data_root + '/leftImg8bit/train',
                         seg_map_path=pseudo_label_dir),
        pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='SubsetIoUMetric', subsets='gta5')
test_evaluator = val_evaluator
