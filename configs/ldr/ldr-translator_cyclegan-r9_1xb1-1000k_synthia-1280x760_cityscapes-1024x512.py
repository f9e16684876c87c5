# LDR's image translator for SYNTHIA -> Cityscapes (paper 001, sections 3.2 and 4.3): the GTA5
# translator's recipe (CycleGAN, Adam 1e-4 halved every 100k iterations, 1000k iterations of
# batch 1, random 512x512 crops at the stored resolution, no validation) with
# SYNTHIA-RAND-CITYSCAPES (1280x760) as the source, as ../_base_/datasets/
# uda_synthia-1280x760_to_cityscapes-1024x512.py defines it (tests/test_models/
# test_cyclegan_translator.py checks the two agree). tools/translate_dataset.py then writes
# Cityscapes train and val translated to the SYNTHIA style.
_base_ = ['./ldr-translator_cyclegan-r9_1xb1-1000k_gta5-1280x720_cityscapes-1024x512.py']
train_dataloader = dict(dataset=dict(source=dict(
    type='SynthiaDataset',
    data_root='data/synthia',
    data_prefix=dict(img_path='RGB', seg_map_path='GT/LABELS'))))
