# Cross-City (NTHU), Tokyo: crosscity_rome.py with another city.
_base_ = ['./crosscity_rome.py']
val_dataloader = dict(dataset=dict(city='Tokyo'))
test_dataloader = val_dataloader
