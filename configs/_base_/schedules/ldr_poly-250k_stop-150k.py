# LDR's segmentation stage (paper 001, section 4.3): the segmentor and the output-space
# discriminator as AdaptSegNet trains them (SGD 2.5e-4 poly 0.9, heads 10x; Adam 1e-4). The
# paper gives no schedule for M and the D_k during this stage: they keep the optimiser of M's
# pre-training (Adam 2e-4, betas (0.5, 0.999)) with the same poly decay. The paper does not
# state the number of iterations either: the AdaptSegNet lineage's 250k poly / 150k stop.
_base_ = ['./adaptsegnet_poly-250k_stop-150k.py']
max_iters = 150000
poly_end = 250000
adam_gan = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999)))
optim_wrapper = dict(reconstructor=adam_gan, recon_discriminator=adam_gan)
poly = dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=poly_end, by_epoch=False)
param_scheduler = dict(segmentor=[poly], discriminators=[poly], reconstructor=[poly],
                       recon_discriminator=[poly])
train_cfg = dict(max_iters=max_iters)
