"""CocoVideoFrameDataset: video_id / frame_id on every item, temporal order."""
import json

import mmdet.models  # noqa: F401  (registers mmeff.det)
import pytest

from mmeff.det import CocoVideoFrameDataset
from mmeff.engine import VideoClipSampler
from mmeff.utils import SyntheticDetectionConfig, write_synthetic_detection


@pytest.fixture(scope='module')
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic_det')
    ann = write_synthetic_detection(str(root), 'val', 2,
                                    SyntheticDetectionConfig(frames=5, height=32, width=32))
    return root, ann


def shuffled_copy(ann, path, drop=None):
    coco = json.load(open(ann))
    coco['images'] = coco['images'][::-1]  # reversed in the file
    if drop:
        del coco['images'][0][drop]
    path.write_text(json.dumps(coco))
    return str(path)


def dataset(root, ann):
    return CocoVideoFrameDataset(data_root=str(root), ann_file=ann, data_prefix=dict(img=''),
                                 metainfo=dict(classes=('square', 'disc', 'triangle')),
                                 test_mode=True, pipeline=[])


def test_items_are_in_video_then_frame_order(tiny_dataset, tmp_path):
    root, ann = tiny_dataset
    data = dataset(root, shuffled_copy(ann, tmp_path / 'shuffled.json'))
    order = [(data.get_data_info(i)['video_id'], data.get_data_info(i)['frame_id'])
             for i in range(len(data))]
    assert order == [(v, f) for v in (1, 2) for f in range(5)]
    assert all(data.get_data_info(i)['instances'] for i in range(len(data)))


def test_missing_frame_id_is_named(tiny_dataset, tmp_path):
    root, ann = tiny_dataset
    with pytest.raises(KeyError, match='frame_id'):
        dataset(root, shuffled_copy(ann, tmp_path / 'broken.json', drop='frame_id'))


def test_clip_sampler_yields_whole_clips_in_order(tiny_dataset):
    root, ann = tiny_dataset
    data = dataset(root, ann)
    sampler = VideoClipSampler(data, clip_len=2, seed=0)
    indices = list(sampler)
    assert len(indices) == len(sampler) == 8  # 2 clips of 2 frames per 5-frame video
    for start in range(0, len(indices), 2):
        a, b = (data.get_data_info(i) for i in indices[start:start + 2])
        assert a['video_id'] == b['video_id'] and b['frame_id'] == a['frame_id'] + 1
    sampler.set_epoch(1)
    assert sorted(sampler) == sorted(indices)
    with pytest.raises(ValueError, match='no video has 6 frames'):
        VideoClipSampler(data, clip_len=6)
