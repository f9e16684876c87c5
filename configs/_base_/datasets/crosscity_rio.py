# Cross-City (NTHU), Rio: crosscity_rome.py with another city.
_base_ = ['./crosscity_rome.py']
val_dataloader = dict(dataset=dict(city='Rio'))
test_dataloader = val_dataloader
