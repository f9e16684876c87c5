# SSF-DAN's optimisers (paper 003, section 4.2): segmentor SGD with Nesterov momentum 0.9,
# weight decay 1e-4 (AdaptSegNet: plain momentum, 5e-4), lr 2.5e-4, heads at 10x; SS-D Adam
# lr 1e-4, momentum 0.9 (the second beta is not given: AdaptSegNet's 0.99); both poly(0.9).
# The paper gives no iteration count: AdaptSegNet's 250k-iteration poly stopped at 150k is kept.
_base_ = ['./adaptsegnet_poly-250k_stop-150k.py']
# Plain SGD (type='SGD'), not AdaptSegNet's RepeatedParamSGD: SSF-DAN released no training
# code, and its stated optimiser (Nesterov, 1e-4) differs from AdaptSegNet's script, so the
# paper's text is followed. Its released model file (inference code) carries the same
# repeated-parameter generator as AdaptSegNet's; `optimizer.type=RepeatedParamSGD` applies it.
optim_wrapper = dict(
    segmentor=dict(optimizer=dict(type='SGD', nesterov=True, weight_decay=1e-4)))
