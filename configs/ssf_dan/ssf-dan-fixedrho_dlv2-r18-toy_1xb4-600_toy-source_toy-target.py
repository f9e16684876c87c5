# Toy ablation (the paper's Figure 4 comparison): rho fixed at rho_upper = 0.8 from the first
# iteration instead of growing as iter / max_iters.
_base_ = ['./ssf-dan_dlv2-r18-toy_1xb4-600_toy-source_toy-target.py']
model = dict(rho_schedule='fixed')
