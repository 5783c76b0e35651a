# The dense baseline at 96x96 input (frames resized from 128x128, train and test): about
# (96/128)^2 of its backbone MACs, the equal-MACs point of a SparseResNet at that density.
_base_ = './retinanet_r50-w16_fpn-c64_1xb8-6e_synthvid-128x128.py'
input_size = 96
train_dataloader = dict(dataset=dict(pipeline=[
    dict(step, scale=(input_size, input_size)) if step.type == 'Resize' else step
    for step in _base_.train_pipeline
]))
val_dataloader = dict(dataset=dict(pipeline=[
    dict(step, scale=(input_size, input_size)) if step.type == 'Resize' else step
    for step in _base_.test_pipeline
]))
test_dataloader = val_dataloader
