# MoViNet-A0 stream: causal (2+1)D convs with stream buffers, causal SE, cumulative pooling.
# Trained on whole clips (causal padding equals streaming from the first frame); tools/test.py
# streams every test video frame by frame (StreamingTestLoop) and reports accuracy plus
# per-frame latency, peak memory and state size (piece_frames: frames per call, or 'random').
_base_ = './movinet-a0-base_8xb16-50x5x1-180e_kinetics400-rgb.py'

model = dict(backbone=dict(causal=True), cls_head=dict(causal=True))

test_cfg = dict(_delete_=True, type='StreamingTestLoop', piece_frames=1)
test_evaluator = [dict(type='AccMetric'), dict(type='StreamCostMetric')]
