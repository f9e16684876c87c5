# The paper's other proxy-stage initialisation ("we can also use the previous model as the
# initialization and finetune it"): the toy proxy stage starting from the multi-adversarial
# model's segmentor instead of random weights, for 600 iterations (the from-scratch stage needs
# 1600 to learn everything again). The checkpoint is a whole MultiAdversarial checkpoint; its
# `segmentor.` weights initialise this plain segmentor, its discriminators are left out.
#   python tools/train.py configs/mada/mada-proxy-ft_dlv2-r18-toy_1xb4-600_toy-target-proxy.py \
#     --cfg-options model.init_cfg.checkpoint=ADAPTED.pth \
#       train_dataloader.dataset.data_prefix.seg_map_path=PROXY_DIR
_base_ = ['./mada-proxy_dlv2-r18-toy_1xb4-1600_toy-target-proxy.py']
max_iters = 600
adapted_checkpoint = 'work_dirs/mada_dlv2-r18-toy_1xb4-400_toy-source_toy-target/iter_400.pth'
model = dict(init_cfg=dict(type='Pretrained', checkpoint=adapted_checkpoint,
                           prefix='segmentor.'))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
