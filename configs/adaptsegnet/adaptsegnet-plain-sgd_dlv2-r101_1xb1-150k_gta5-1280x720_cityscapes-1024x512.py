# AdaptSegNet (multi-level) GTA5 -> Cityscapes with the segmentor's SGD at the stated learning
# rate: each backbone parameter is updated once per step (torch.optim.SGD), where the reference
# code updates bottleneck convolutions 3x and downsample convolutions 4x per step
# (RepeatedParamSGD, the default; docs/reference_optimizer.md). Everything else is the default
# config's. Any other config takes the same switch on the command line:
#   --cfg-options optim_wrapper.segmentor.optimizer.type=SGD
_base_ = ['./adaptsegnet_dlv2-r101_1xb1-150k_gta5-1280x720_cityscapes-1024x512.py']
optim_wrapper = dict(segmentor=dict(optimizer=dict(type='SGD')))
