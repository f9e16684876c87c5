# Cross-City (NTHU), Taipei: crosscity_rome.py with another city.
_base_ = ['./crosscity_rome.py']
val_dataloader = dict(dataset=dict(city='Taipei'))
test_dataloader = val_dataloader
