"""TemporalEnsemble: members at half frame rate, logits averaged; streaming == whole clip."""
import pytest
import torch

from mmeff.layers import StreamState
from tests.action.test_movinet import TINY, randomise


def build():
    from mmaction.registry import MODELS
    member = dict(
        type='MoViNetRecognizer', backbone=dict(type='MoViNet', arch=TINY, causal=True),
        cls_head=dict(type='MoViNetHead', num_classes=3, in_channels=16, hidden_channels=32,
                      causal=True, average_clips='prob'))
    return randomise(MODELS.build(dict(type='TemporalEnsemble', models=[member, member]))).eval()


def test_members_see_alternate_frames_and_logits_are_averaged():
    from mmaction.structures import ActionDataSample
    model = build()
    clips = torch.randn(2, 1, 3, 6, 16, 16)
    with torch.no_grad():
        logits = model(clips)
        expected = sum(
            member.predict_stream(clips[:, 0, :, k::2], StreamState())[:, -1]
            for k, member in enumerate(model.members)) / 2
        torch.testing.assert_close(logits, expected)
        samples = model(clips, [ActionDataSample().set_gt_label(0) for _ in range(2)], 'predict')
        torch.testing.assert_close(samples[1].pred_score, expected[1].softmax(-1))
    assert not torch.allclose(model.members[0].backbone.stem.conv.weight,
                              model.members[1].backbone.stem.conv.weight)
    model.train()
    losses = model(clips, [ActionDataSample().set_gt_label(1) for _ in range(2)], 'loss')
    assert set(losses) >= {'m0.loss_cls', 'm1.loss_cls'}


@pytest.mark.parametrize('lengths', [[7], [1] * 7, [2, 3, 1, 1], [3, 4]])
def test_streaming_matches_the_whole_clip_after_every_frame(lengths):
    model = build()
    video = torch.randn(1, 3, 7, 16, 16)
    state, outputs, start = StreamState(), [], 0
    with torch.no_grad():
        for length in lengths:
            outputs.append(model.predict_stream(video[:, :, start:start + length], state))
            start += length
        streamed = torch.cat(outputs, 1)
        for t in range(1, 7):  # after frame t both members have seen their frames of 0..t
            clip = video[:, None, :, :t + 1]
            torch.testing.assert_close(streamed[:, t], model(clip))
        torch.testing.assert_close(
            streamed[:, 0], model.members[0].predict_stream(video[:, :, :1], StreamState())[:, 0])
