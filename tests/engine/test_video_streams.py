"""Video evaluation pieces with a converted mmpose model: one SkipConv stream per track, reset at
every track boundary, so two videos give the same predictions in either order."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

import mmeff
from mmeff.converters import calibrate_norm_gates
from mmeff.engine import VideoStreams, run_video_frames
from mmeff.pose import VideoPoseDataset
from mmeff.utils import MacCounter
from mmeff.utils.synthetic_pose_dataset import default_dataset_config, write_jhmdb_dataset
from tests.helpers import build_model

CONFIG = Path(__file__).resolve().parents[2] / 'configs' / 'pose' / \
    'td-hm_hrnet-tiny_1xb32-10e_synthetic-jhmdb-64x64.py'


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('jhmdb')
    write_jhmdb_dataset(str(root),
                        default_dataset_config(videos=dict(test=2), frames=5, height=48, width=64))
    cfg = Config.fromfile(str(CONFIG))
    torch.manual_seed(0)
    model = build_model(cfg.model, 'mmpose')
    mmeff.convert_to_skipconv(model.eval(), gate=dict(type='InputNormGate', block_size=4))
    dataset = VideoPoseDataset(dict(cfg.test_dataloader.dataset.dataset, data_root=str(root)))
    samples = [dataset[i] for i in range(len(dataset))]
    forward = lambda s: model.test_step(pseudo_collate([s]))  # noqa: E731
    calibrate_norm_gates(model, samples, relative=0.5, forward=forward)  # many blocks skip
    keys = [s['data_samples'].metainfo['stream_key'] for s in samples]
    videos = {k: [s for s, key in zip(samples, keys) if key == k] for k in sorted(set(keys))}
    return model, list(videos.values())


def predict(model, frames):
    """Run frames through the video loop pieces: keypoints and scores (T, K, 3), executed MACs."""
    streams = VideoStreams()
    with MacCounter(model) as counter:
        outputs = run_video_frames(model, 'test_step', pseudo_collate(frames), streams, counter)
    keypoints = np.stack([
        np.concatenate(
            [o.pred_instances.keypoints[0], o.pred_instances.keypoint_scores[0][:, None]], 1)
        for o in outputs
    ])
    return keypoints, [o.metainfo['executed_macs'] for o in outputs], streams.resets


def test_two_videos_give_the_same_result_in_either_order(setup):
    model, (a, b) = setup
    ab, ab_macs, resets = predict(model, a + b)
    ba, ba_macs, _ = predict(model, b + a)
    assert resets == 2
    n = len(a)
    np.testing.assert_array_equal(ab[:n], ba[len(b):])
    np.testing.assert_array_equal(ab[n:], ba[:len(b)])
    assert ab_macs[:n] == ba_macs[len(b):] and ab_macs[n:] == ba_macs[:len(b)]
    assert ab_macs[0] > max(ab_macs[1:n])  # key frame dense, later frames skip blocks


def test_without_a_reset_the_next_video_inherits_state(setup):
    """The control: tagged as one stream, a video that starts where the previous one ended
    (here: the first video played backwards) starts from the previous video's state."""
    model, (a, _) = setup
    backwards = [dict(s, data_samples=s['data_samples'].clone()) for s in reversed(a)]
    for s in backwards:
        s['data_samples'].set_metainfo(dict(stream_key='backwards'))
    separate, separate_macs, _ = predict(model, a + backwards)
    one_stream = [dict(s, data_samples=s['data_samples'].clone()) for s in a + backwards]
    for s in one_stream:
        s['data_samples'].set_metainfo(dict(stream_key='one'))
    merged, merged_macs, resets = predict(model, one_stream)
    assert resets == 1
    n = len(a)
    assert separate_macs[n] == separate_macs[0]  # reset: a key frame
    assert merged_macs[n] < separate_macs[n] / 10  # same frame as the last one: nothing fires
    assert not np.array_equal(merged[n:], separate[n:])
