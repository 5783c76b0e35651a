# MoViNet-A1 stream, 172x172; tools/test.py streams frame by frame (see the A0 stream config).
_base_ = './movinet-a0-stream_8xb16-50x5x1-180e_kinetics400-rgb.py'

model = dict(backbone=dict(arch='a1'), cls_head=dict(in_channels=600))
