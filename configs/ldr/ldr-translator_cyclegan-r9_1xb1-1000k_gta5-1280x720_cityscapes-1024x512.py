# LDR's image translator for GTA5 -> Cityscapes (paper 001, sections 3.2 and 4.3): CycleGAN
# between GTA5 and Cityscapes train, Adam 1e-4 halved every 100k iterations, 1000k iterations of
# batch 1. Afterwards tools/translate_dataset.py writes Cityscapes train and val translated to
# the GTA5 style, at full resolution, for the LDR segmentation stages (configs/ldr/README.md).
# Crops (the paper does not say): random 512x512 crops of the images at their stored resolution
# (GTA5 1914x1052, Cityscapes 2048x1024) and random flips, as CycleGAN trains, so that the
# translator learns at the pixel scale at which the tool translates whole images. The sizes in
# the file name are those of the dataset base (the segmentation stages' sizes), not the crops.
_base_ = [
    '../_base_/models/cyclegan-translator_r9.py',
    '../_base_/datasets/uda_gta5-1280x720_to_cityscapes-1024x512.py',
    '../_base_/schedules/ldr-translator_adam-step-100k_1000k.py',
    '../_base_/default_runtime.py',
]
crop_size = (512, 512)
# UDADataset requires the source labels; the translator does not use them
source_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
target_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=1,
    dataset=dict(source=dict(pipeline=source_pipeline), target=dict(pipeline=target_pipeline)))
# What tools/translate_dataset.py --split-key can name besides the training branches
# (translate_datasets.target_val: the Cityscapes val images the LDR stages are evaluated on).
translate_datasets = dict(target_val=_base_.val_dataloader.dataset)
# A translator makes no segmentation: no validation or test loop.
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
