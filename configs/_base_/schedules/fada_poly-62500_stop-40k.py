# FADA's adaptation schedule (reference code, configs/deeplabv2_r101_adv.yaml): segmentor SGD
# lr 2.5e-4, momentum 0.9, weight decay 5e-4 (the code's default; the paper text says 1e-4),
# classifier at 10x; discriminator Adam lr 1e-4, betas (0.9, 0.99); both poly(0.9) over 62.5k
# iterations, stopped at 40k. It starts from the source-only warm-up (load_from).
_base_ = ['./adaptsegnet_poly-250k_stop-150k.py']
# Plain SGD: FADA's code builds its parameter groups without repeats (unlike AdaptSegNet's).
optim_wrapper = dict(segmentor=dict(optimizer=dict(type='SGD')))
param_scheduler = dict(
    segmentor=[dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=62500, by_epoch=False)],
    discriminators=[
        dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=62500, by_epoch=False)])
train_cfg = dict(max_iters=40000, val_interval=2000)
default_hooks = dict(checkpoint=dict(interval=2000))
