"""VideoPoseDataset (per-track order, stable crops, stream keys), VideoClipDataset (one crop and
one augmentation per clip) and clip_pseudo_collate, on a tiny synthetic JHMDB-format dataset."""
import numpy as np
import pytest
from mmengine.registry import init_default_scope

from mmeff.pose import VideoClipDataset, VideoPoseDataset, clip_pseudo_collate, indices_by_track
from mmeff.utils.synthetic_pose_dataset import default_dataset_config, write_jhmdb_dataset

TEST_PIPELINE = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=(32, 32)),
    dict(type='PackPoseInputs'),
]
TRAIN_PIPELINE = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomBBoxTransform', rotate_factor=40, scale_factor=(0.7, 1.3)),
    dict(type='TopdownAffine', input_size=(32, 32)),
    dict(type='PackPoseInputs', meta_keys=('img_path', 'input_center', 'input_scale', 'flip')),
]


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp('jhmdb')
    write_jhmdb_dataset(
        str(root),
        default_dataset_config(videos=dict(train=2, test=2), frames=8, height=48, width=64,
                               max_speed=2.0))
    return root


def jhmdb(root, split, pipeline):
    init_default_scope('mmpose')
    return dict(type='JhmdbDataset', data_root=str(root), data_mode='topdown',
                ann_file=f'annotations/Sub1_{split}.json', data_prefix=dict(img=''),
                test_mode=split == 'test', pipeline=pipeline)


class BoxesDataset:
    """Data infos with an image path and one person box each, in the given (shuffled) order."""

    def __init__(self, items):
        self.infos = [
            dict(img_path=path, bbox=np.array([box], dtype=np.float32)) for path, box in items
        ]

    def __len__(self):
        return len(self.infos)

    def get_data_info(self, idx):
        return self.infos[idx]


def test_indices_by_track_links_boxes_and_orders_frames():
    left, right = [0, 0, 10, 10], [50, 50, 60, 60]
    data = BoxesDataset([('b/2.jpg', left), ('a/1.jpg', right), ('a/0.jpg', left),
                         ('a/1.jpg', left), ('a/0.jpg', right), ('b/1.jpg', left)])
    assert indices_by_track(data) == {'a#0': [2, 3], 'a#1': [4, 1], 'b#0': [5, 0]}
    moved = BoxesDataset([('a/0.jpg', left), ('a/1.jpg', right)])  # no overlap: a new track
    assert indices_by_track(moved) == {'a#0': [0], 'a#1': [1]}


def test_video_dataset_orders_frames_per_track_with_stable_crops(root):
    dataset = VideoPoseDataset(jhmdb(root, 'test', TEST_PIPELINE), margin=1.25)
    assert len(dataset) == 16 and dataset.metainfo['dataset_name'] == 'jhmdb'
    samples = [dataset[i]['data_samples'] for i in range(len(dataset))]
    keys = [s.metainfo['stream_key'] for s in samples]
    assert keys == sorted(keys) and len(set(keys)) == 2  # each track contiguous
    for key in set(keys):
        track = [s for s in samples if s.metainfo['stream_key'] == key]
        assert [s.metainfo['frame_in_stream'] for s in track] == list(range(8))
        paths = [s.metainfo['img_path'] for s in track]
        assert paths == sorted(paths)
        centers = np.stack([s.metainfo['input_center'] for s in track])
        assert len(np.unique(centers.round(3), axis=0)) < len(track)  # crops are reused
        for s in track:  # the person stays inside the crop
            box = s.gt_instances.bboxes[0]
            c = np.reshape(s.metainfo['input_center'], 2)
            size = np.reshape(s.metainfo['input_scale'], 2)
            assert (box[:2] >= c - size / 2 - 1e-3).all() and (box[2:] <= c + size / 2 + 1e-3).all()


def test_per_frame_crops_when_stable_crop_is_off(root):
    dataset = VideoPoseDataset(jhmdb(root, 'test', TEST_PIPELINE), stable_crop=False)
    centers = np.stack(
        [np.reshape(dataset[i]['data_samples'].metainfo['input_center'], 2) for i in range(8)])
    assert len(np.unique(centers.round(3), axis=0)) == 8


def test_clips_share_crop_and_augmentation(root):
    dataset = VideoClipDataset(jhmdb(root, 'train', TRAIN_PIPELINE), clip_len=3, clip_stride=2)
    assert len(dataset) == 2 * 3  # per video: starts 0, 2, 4
    np.random.seed(0)
    flips, centers = [], []
    for i in range(len(dataset)):
        clip = dataset[i]
        assert len(clip) == 3
        meta = [frame['data_samples'].metainfo for frame in clip]
        paths = [m['img_path'] for m in meta]
        assert paths == sorted(paths) and len(set(paths)) == 3
        for m in meta[1:]:
            assert m['flip'] == meta[0]['flip']
            np.testing.assert_allclose(m['input_center'], meta[0]['input_center'])
            np.testing.assert_allclose(m['input_scale'], meta[0]['input_scale'])
        flips.append(meta[0]['flip'])
        centers.append(np.reshape(meta[0]['input_center'], 2))
    assert len(set(flips)) == 2 or len(np.unique(np.round(centers, 3), axis=0)) > 1


def test_clip_collate_is_frame_major_per_clip(root):
    dataset = VideoClipDataset(jhmdb(root, 'train', TEST_PIPELINE), clip_len=2)
    batch = clip_pseudo_collate([dataset[0], dataset[5]])
    paths = [s.metainfo['img_path'] for s in batch['data_samples']]
    want = [f['data_samples'].metainfo['img_path'] for f in (*dataset[0], *dataset[5])]
    assert paths == want and len(batch['inputs']) == 4
    with pytest.raises(ValueError, match='different lengths'):
        clip_pseudo_collate([dataset[0], dataset[0][:1]])
    with pytest.raises(ValueError, match='clip_len'):
        VideoClipDataset(jhmdb(root, 'train', TEST_PIPELINE), clip_len=1)
