# Table 5 ablation on the toy domains: binary domain labels (a plain 2-output feature-level
# domain discriminator), the paper's "baseline" row.
_base_ = ['./fada_dlv2-r18-toy_1xb4-400_toy-source_toy-target.py']
model = dict(domain_encoding='binary', discriminators=dict(fine=dict(num_classes=1)))
