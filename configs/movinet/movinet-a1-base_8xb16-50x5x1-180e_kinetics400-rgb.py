# MoViNet-A1 base: the A0 base recipe with the A1 architecture (projection 600), 172x172.
_base_ = './movinet-a0-base_8xb16-50x5x1-180e_kinetics400-rgb.py'

model = dict(backbone=dict(arch='a1'), cls_head=dict(in_channels=600))
