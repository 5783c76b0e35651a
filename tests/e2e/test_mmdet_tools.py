"""EfficientDet-D0 through mmdet's own tools/train.py and tools/test.py on synthetic video.

One short training run (module fixture) on the synthetic video detection dataset; then:
the loss decreases and the trained mAP beats the untrained model's; the SkipConv config at
threshold 0, run by tools/test.py video by video, gives exactly the dense detections and
reports its GMACs; and per-video stream reset makes results independent of the video order.
"""
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import mmdet
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmeff.utils import SyntheticDetectionConfig, write_synthetic_detection

REPO = Path(__file__).resolve().parents[2]
TOOLS = Path(mmdet.__file__).parent / '.mim' / 'tools'
CONFIGS = REPO / 'configs' / 'efficientdet'
DENSE = CONFIGS / 'efficientdet_effb0_bifpn_1xb8-24e_synthvid-128x128.py'
SKIPCONV = CONFIGS / 'efficientdet_effb0_bifpn-skipconv-inorm_1xb8-24e_synthvid-128x128.py'
EPOCHS = 8  # 2 videos x 8 frames, batch 4: 32 iterations

DATA_OVERRIDES = """
data_root = '{root}/'
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, ann_file='{val_ann}'))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs={epochs}, val_interval={epochs})
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4),
    dict(type='CosineAnnealingLR', eta_min=0.0, begin=0, T_max={epochs}, end={epochs},
         by_epoch=True, convert_to_iter_based=True)
]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval={epochs}))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
"""


def write_config(path, base, root, val_ann='annotations/val.json', evaluator=None, extra=''):
    text = f"_base_ = '{base}'\n" + DATA_OVERRIDES.format(root=root, val_ann=val_ann, epochs=EPOCHS)
    ann = f'{root}/{val_ann}'
    if evaluator == 'coco':
        text += f"val_evaluator = dict(ann_file='{ann}')\ntest_evaluator = val_evaluator\n"
    elif evaluator == 'video':
        text += (f"val_evaluator = [dict(type='CocoMetric', ann_file='{ann}', metric='bbox'), "
                 "dict(type='FrameMacsMetric')]\ntest_evaluator = val_evaluator\n")
    path.write_text(text + extra)
    return str(path)


def run_tool(script, *args):
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in (str(REPO), env.get('PYTHONPATH')) if p)
    proc = subprocess.run([sys.executable, str(TOOLS / script), *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, (proc.stdout[-4000:], proc.stderr[-4000:])
    return proc


def last_scalars(work_dir):
    """The per-iteration records of the run's vis_data/scalars.json."""
    path, = Path(work_dir).glob('*/vis_data/scalars.json')
    return [json.loads(line) for line in path.read_text().splitlines()]


def logged_metrics(work_dir):
    """The metrics tools/test.py logged (its <timestamp>.json)."""
    path = sorted(Path(work_dir).glob('*/*.json'))[-1]
    return json.loads(path.read_text().splitlines()[-1])


def train_on_synthetic_videos(root: Path, base, extra: str = '') -> dict:
    """The short run of ``base`` with mmdet's tools/train.py on 2 + 2 synthetic videos in
    ``root``: its data, config, last checkpoint and logged scalars."""
    data = root / 'data'
    cfg = SyntheticDetectionConfig(frames=8, height=128, width=128, objects=1, min_size=0.25,
                                   max_size=0.45)
    write_synthetic_detection(str(data), 'train', 2, cfg, first_seed=0)
    write_synthetic_detection(str(data), 'val', 2, cfg, first_seed=10000)
    config = write_config(root / 'model.py', base, data, evaluator='coco', extra=extra)
    run_tool('train.py', config, '--work-dir', root / 'train')
    checkpoint, = (root / 'train').glob(f'epoch_{EPOCHS}.pth')
    return dict(root=root, data=data, config=config, checkpoint=checkpoint,
                scalars=last_scalars(root / 'train'))


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    return train_on_synthetic_videos(tmp_path_factory.mktemp('effdet'), DENSE)


def assert_loss_decreases(scalars):
    """The last 4 iterations' mean loss is under 0.8x the first 4's (at least 16 logged)."""
    losses = [r['loss'] for r in scalars if 'loss' in r]
    assert len(losses) >= 16
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert last < 0.8 * first, losses


def assert_map_beats_untrained(config, scalars, work_dir):
    """The run's last validation mAP is positive and above the untrained model's."""
    trained_map = [r for r in scalars if 'coco/bbox_mAP' in r][-1]['coco/bbox_mAP']
    cfg = Config.fromfile(config)
    cfg.work_dir = str(work_dir)
    runner = Runner.from_cfg(cfg)
    torch.manual_seed(0)
    runner.model.init_weights()  # the state training starts from
    untrained_map = runner.test()['coco/bbox_mAP']
    assert trained_map > untrained_map, (trained_map, untrained_map)
    assert trained_map > 0


def test_training_loss_decreases(trained):
    assert_loss_decreases(trained['scalars'])


def test_trained_map_beats_untrained(trained, tmp_path):
    assert_map_beats_untrained(trained['config'], trained['scalars'], tmp_path / 'untrained')


def dumped(path):
    with open(path, 'rb') as f:
        return {r['img_id']: r['pred_instances'] for r in pickle.load(f)}


def test_skipconv_threshold_zero_gives_the_dense_detections(trained):
    root = trained['root']
    skip_config = write_config(root / 'skip0.py', SKIPCONV, trained['data'], evaluator='video',
                               extra="model = dict(gate=dict(threshold=0.0))\n")
    run_tool('test.py', trained['config'], trained['checkpoint'], '--work-dir', root / 'test_dense',
             '--out', root / 'dense.pkl')
    run_tool('test.py', skip_config, trained['checkpoint'], '--work-dir', root / 'test_skip0',
             '--out', root / 'skip0.pkl')
    dense, skip = dumped(root / 'dense.pkl'), dumped(root / 'skip0.pkl')
    assert dense.keys() == skip.keys() and len(dense) == 16
    assert sum(len(p['labels']) for p in dense.values()) > 0
    for path, want in dense.items():
        got = skip[path]
        assert torch.equal(got['labels'], want['labels']), path
        torch.testing.assert_close(got['bboxes'], want['bboxes'], rtol=0, atol=1e-3)
        torch.testing.assert_close(got['scores'], want['scores'], rtol=0, atol=1e-5)
    dense_metrics = logged_metrics(root / 'test_dense')
    skip_metrics = logged_metrics(root / 'test_skip0')
    assert skip_metrics['coco/bbox_mAP'] == dense_metrics['coco/bbox_mAP']
    # Sensor noise changes every pixel: at threshold 0 every block runs, no more.
    assert skip_metrics['macs/executed_gmacs'] == skip_metrics['macs/dense_gmacs'] > 0


def two_videos_sharing_frames(src, dst, swap):
    """Video 1 of ``src``, and video 2 = video 1's frames 2..7 again (new image ids)."""
    coco = json.loads(Path(src).read_text())
    images = [im for im in coco['images'] if im['video_id'] == 1]
    again = [
        dict(im, id=100 + im['id'], video_id=2, frame_id=im['frame_id'] - 2) for im in images
        if im['frame_id'] >= 2
    ]
    anns = [a for a in coco['annotations'] if a['image_id'] in {im['id'] for im in images}]
    anns += [
        dict(a, id=1000 + a['id'], image_id=100 + a['image_id']) for a in anns
        if a['image_id'] in {im['id'] - 100
                             for im in again}
    ]
    coco['images'], coco['annotations'] = images + again, anns
    if swap:  # the same videos, the other way round in the dataset's (video, frame) order
        for image in coco['images']:
            image['video_id'] = 3 - image['video_id']
    Path(dst).write_text(json.dumps(coco))


def video_predictions(config, checkpoint, work_dir):
    cfg = Config.fromfile(config)
    cfg.work_dir, cfg.load_from = str(work_dir), str(checkpoint)
    cfg.test_evaluator.append(dict(type='DumpDetResults', out_file_path=str(work_dir / 'out.pkl')))
    Runner.from_cfg(cfg).test()
    return dumped(work_dir / 'out.pkl')


def test_results_do_not_depend_on_the_video_order(trained, tmp_path):
    data = trained['data']
    extra = "model = dict(gate=dict(threshold=20.0))\n"  # skips most blocks: state matters
    results = []
    for swap in (False, True):
        ann = f'annotations/val_shared_{swap}.json'
        two_videos_sharing_frames(data / 'annotations/val.json', data / ann, swap)
        config = write_config(tmp_path / f'{swap}.py', SKIPCONV, data, val_ann=ann,
                              evaluator='video', extra=extra)
        results.append(video_predictions(config, trained['checkpoint'], tmp_path / str(swap)))
    assert results[0].keys() == results[1].keys() and len(results[0]) == 14
    for image_id, want in results[0].items():
        for key in ('labels', 'bboxes', 'scores'):
            assert torch.equal(results[1][image_id][key], want[key]), (image_id, key)
    # The same frames give other results after another history: without the reset, the order
    # of the videos would matter.
    assert any(not torch.equal(results[0][100 + i]['scores'], results[0][i]['scores'])
               for i in range(3, 9))


GUMBEL = CONFIGS / 'efficientdet_effb0_bifpn-skipconv-gumbel_1xb2x4-6e_synthvid-128x128.py'


def test_gumbel_gate_fine_tuning_through_tools_train(trained):
    root = trained['root']
    config = write_config(
        root / 'gumbel.py', GUMBEL, trained['data'], evaluator='video',
        extra=("train_dataloader = dict(batch_size=8, num_workers=0, "
               "persistent_workers=False, dataset=dict(data_root=data_root))\n"
               "train_cfg = dict(max_epochs=1, val_interval=1)\n"
               "param_scheduler = []\n"
               "default_hooks = dict(logger=dict(interval=1), "
               "checkpoint=dict(interval=1))\n"
               f"load_from = '{trained['checkpoint']}'\n"))
    run_tool('train.py', config, '--work-dir', root / 'gumbel')
    scalars = last_scalars(root / 'gumbel')
    gate_losses = [r['loss_gate'] for r in scalars if 'loss_gate' in r]
    assert len(gate_losses) == 2 and all(0 < g <= 0.5 for g in gate_losses)  # 2 clips per batch
    metrics = [r for r in scalars if 'macs/executed_gmacs' in r][-1]
    # executed includes the Gumbel gates' own convs (as costly as a depthwise conv each), so
    # after one epoch it may still exceed the dense count; only the gated convs are bounded.
    assert metrics['macs/executed_gmacs'] > 0 and metrics['macs/dense_gmacs'] > 0
    state = torch.load(root / 'gumbel' / 'epoch_1.pth', map_location='cpu')['state_dict']
    dense = torch.load(trained['checkpoint'], map_location='cpu')['state_dict']
    gate_biases = [v for k, v in state.items() if k.endswith('gate.conv.bias')]
    assert len(gate_biases) > 100
    assert any(not torch.allclose(b, torch.full_like(b, 0.6)) for b in gate_biases)  # trained
    shared = [k for k in dense if k in state and 'gate' not in k]
    assert len(shared) == len(dense)  # the dense weights were all loaded into the SkipConv model
