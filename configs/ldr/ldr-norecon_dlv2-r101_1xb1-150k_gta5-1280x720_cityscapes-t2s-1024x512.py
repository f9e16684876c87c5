# LDR ablation (paper 001, Table 3 row "T -> S" without reconstruction): translation, pseudo
# labels and the output-space discriminator, no label-driven reconstruction. Its stage 0 is
# ldr-stage0_* trained with --cfg-options model.reconstructor=None
# model.recon_discriminator=None model.perceptual=None --work-dir <the path in load_from>; its
# pseudo labels go to their own folder (below): tools/generate_pseudo_labels.py on that checkpoint
# with --policy class_median --out-dir <ldr_dir>/pseudo_labels_norecon.
_base_ = ['./ldr_dlv2-r101_1xb1-150k_gta5-1280x720_cityscapes-t2s-1024x512.py']
model = dict(reconstructor=None, recon_discriminator=None, perceptual=None)
train_dataloader = dict(dataset=dict(target=dict(
    data_prefix=dict(seg_map_path=_base_.ldr_dir + '/pseudo_labels_norecon'))))
load_from = ('work_dirs/ldr-norecon-stage0_dlv2-r101_1xb1-150k_gta5-1280x720_cityscapes-t2s-1024x512/'
             'iter_150000.pth')
