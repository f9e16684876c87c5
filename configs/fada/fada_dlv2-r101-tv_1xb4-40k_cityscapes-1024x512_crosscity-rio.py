# FADA Cityscapes -> Cross-City Rio (paper 002, Table 1): the Rome config with another city.
_base_ = ['./fada_dlv2-r101-tv_1xb4-40k_cityscapes-1024x512_crosscity-rome.py']
city = 'Rio'
train_dataloader = dict(dataset=dict(target=dict(city=city)))
val_dataloader = dict(dataset=dict(city=city))
test_dataloader = val_dataloader
load_from = ('work_dirs/fada-warmup_dlv2-r101-tv_1xb8-20k_cityscapes-1024x512_crosscity-rio/'
             'iter_20000.pth')
