# Toy ablation: progressive confidence off (rho = 1, every predicted pixel kept; SS-D-dagger
# + CA-R).
_base_ = ['./ssf-dan_dlv2-r18-toy_1xb4-600_toy-source_toy-target.py']
model = dict(rho_schedule='off')
