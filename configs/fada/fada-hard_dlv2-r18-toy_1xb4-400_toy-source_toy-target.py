# Table 5 ablation on the toy domains: hard domain encodings (one-hot argmax where the
# probability reaches 0.9, other pixels ignored) instead of clipped soft labels.
_base_ = ['./fada_dlv2-r18-toy_1xb4-400_toy-source_toy-target.py']
model = dict(domain_encoding='hard')
