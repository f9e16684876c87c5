# SSF-DAN's optimisers (paper 003, section 4.2): segmentor SGD with Nesterov momentum 0.9,
# weight decay 1e-4 (AdaptSegNet: plain momentum, 5e-4), lr 2.5e-4, heads at 10x; SS-D Adam
# lr 1e-4, momentum 0.9 (the second beta is not given: AdaptSegNet's 0.99); both poly(0.9).
# The paper gives no iteration count: AdaptSegNet's 250k-iteration poly stopped at 150k is kept.
_base_ = ['./adaptsegnet_poly-250k_stop-150k.py']
optim_wrapper = dict(
    segmentor=dict(optimizer=dict(nesterov=True, weight_decay=1e-4)))
