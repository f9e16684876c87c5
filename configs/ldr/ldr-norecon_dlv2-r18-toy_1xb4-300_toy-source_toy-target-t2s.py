# LDR ablation on the toy domains: stage 1 without label-driven reconstruction (translation,
# pseudo labels, output-space discriminator). Its stage 0 is ldr-stage0_* trained with
# --cfg-options model.reconstructor=None model.recon_discriminator=None model.perceptual=None
# --work-dir <the path in load_from>; its pseudo labels go to <ldr_dir>/pseudo_labels_norecon.
_base_ = ['./ldr_dlv2-r18-toy_1xb4-300_toy-source_toy-target-t2s.py']
model = dict(reconstructor=None, recon_discriminator=None, perceptual=None)
train_dataloader = dict(dataset=dict(target=dict(
    data_prefix=dict(seg_map_path=_base_.ldr_dir + '/pseudo_labels_norecon'))))
load_from = ('work_dirs/ldr-norecon-stage0_dlv2-r18-toy_1xb4-300_toy-source_toy-target-t2s/'
             'iter_300.pth')
