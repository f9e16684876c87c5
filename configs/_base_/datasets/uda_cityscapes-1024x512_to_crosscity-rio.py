# Cityscapes -> Cross-City Rio: uda_cityscapes-1024x512_to_crosscity-rome.py with another city.
_base_ = ['./uda_cityscapes-1024x512_to_crosscity-rome.py']
city = 'Rio'
train_dataloader = dict(dataset=dict(target=dict(city=city)))
val_dataloader = dict(dataset=dict(city=city))
test_dataloader = val_dataloader
