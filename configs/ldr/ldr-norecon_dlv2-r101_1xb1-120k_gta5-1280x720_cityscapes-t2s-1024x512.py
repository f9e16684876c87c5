# LDR ablation (paper 001, Table 3 row "T -> S" without reconstruction): translation, pseudo
# labels and the output-space discriminator, no label-driven reconstruction; like ldr_*, from the
# initial weights for 120k iterations. Its pseudo labels come from its own stage 0 without
# reconstruction (ldr-norecon-stage0_*, 80k), through tools/generate_pseudo_labels.py
# --policy class_median into their own folder (below). `python tools/reproduce.py ldr-norecon gta5`
# runs the whole row (translator and translations shared with the `ldr gta5` row).
_base_ = ['./ldr_dlv2-r101_1xb1-120k_gta5-1280x720_cityscapes-t2s-1024x512.py']
model = dict(reconstructor=None, recon_discriminator=None, perceptual=None)
train_dataloader = dict(dataset=dict(target=dict(
    data_prefix=dict(seg_map_path=_base_.ldr_dir + '/pseudo_labels_norecon'))))
