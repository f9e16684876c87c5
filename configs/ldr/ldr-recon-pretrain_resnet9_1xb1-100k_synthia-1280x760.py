# Pre-training of LDR's reconstruction network M on SYNTHIA-RAND-CITYSCAPES (see the GTA5
# config): the same model and schedule on the SYNTHIA images at 1280x760. SYNTHIA's labels are
# Cityscapes' 19 trainIds (terrain, truck and train never occur), so M keeps 19 input channels
# like the 19-output segmentor of the SYNTHIA LDR configs.
_base_ = ['./ldr-recon-pretrain_resnet9_1xb1-100k_gta5-1280x720.py']
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='Resize', scale=(1280, 760), keep_ratio=False),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(
    type='SynthiaDataset',
    data_root='data/synthia',
    data_prefix=dict(img_path='RGB', seg_map_path='GT/LABELS'),
    pipeline=train_pipeline))
