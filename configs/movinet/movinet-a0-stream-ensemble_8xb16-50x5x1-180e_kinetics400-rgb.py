# Temporal ensemble of two MoViNet-A0 stream models: member k sees frames k, k+2, ... (half the
# frame rate, offset by one frame); logits are averaged before the softmax. Both members train
# at once (summed losses, separate weights); tools/test.py streams frame by frame.
_base_ = './movinet-a0-stream_8xb16-50x5x1-180e_kinetics400-rgb.py'

member = {{_base_.model}}
model = dict(
    _delete_=True, type='TemporalEnsemble', models=[member, member],
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], format_shape='NCTHW'))
