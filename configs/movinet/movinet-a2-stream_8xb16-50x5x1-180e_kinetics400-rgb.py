# MoViNet-A2 stream at 224x224; tools/test.py streams frame by frame (see the A0 stream config).
_base_ = './movinet-a2-base_8xb16-50x5x1-180e_kinetics400-rgb.py'

model = dict(backbone=dict(causal=True), cls_head=dict(causal=True))

test_cfg = dict(_delete_=True, type='StreamingTestLoop', piece_frames=1)
test_evaluator = [dict(type='AccMetric'), dict(type='StreamCostMetric')]
