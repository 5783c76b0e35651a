"""Video evaluation and Gumbel-gate training under ``torchrun`` with the toolboxes' own
``tools/test.py`` / ``tools/train.py --launcher pytorch`` (gloo on the CPU).

Evaluation over 2 and 3 ranks, with streams of uneven lengths (one long video, short ones;
more ranks than videos), must give exactly the metrics and predictions of one process: video
pose (mmpose), video detection (mmdet) and the MoViNet stream test (mmaction2). The
calibrated norm-gate thresholds, the Gumbel temperatures and the weights must be the same on
every rank."""
import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.e2e import test_mmdet_tools as det
from tests.e2e.test_mmpose_tools import DENSE, GUMBEL, REPO, SKIPCONV, TOOLS

#: evaluation subsets of the synthetic test videos: video -> frames kept
SUBSETS = {
    'long_short': {
        'test_000': 16,
        'test_001': 3,
        'test_002': 3
    },
    'two_videos': {
        'test_000': 16,
        'test_001': 3
    },
}
PROBE = ("custom_imports = dict(imports=['mmeff', 'tests.e2e.probes.rank_state_hook'], "
         'allow_failed_imports=False)\n')


def run_tool(tool: Path, nproc: int, args: list, cwd: Path) -> str:
    """A toolbox's ``tool`` in one process, or ``nproc`` under torchrun."""
    if nproc == 1:
        command = [sys.executable, tool, *args]
    else:
        command = [
            sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node',
            str(nproc), tool, *args, '--launcher', 'pytorch'
        ]
    done = subprocess.run(list(map(str, command)), cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, PYTHONPATH=str(REPO),
                                                OMP_NUM_THREADS='1'))
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    return log


def with_probe(tmp: Path, config: Path, extra: str = '',
               hooks: str = '_base_.custom_hooks') -> Path:
    """``config`` with the RankStateHook probe added to its custom ``hooks``."""
    probed = tmp / f'probed_{config.name}'
    probed.write_text(f'_base_ = {str(config)!r}\n{PROBE}'
                      f"custom_hooks = {hooks} + [dict(type='RankStateHook')]\n" + extra)
    return probed


def rank_states(work: Path, nproc: int) -> list:
    """What RankStateHook saved on each rank."""
    return [torch.load(work / f'state_rank{rank}.pth', weights_only=False) for rank in range(nproc)]


def keep_frames(annotations: dict, frames: dict) -> dict:
    """The annotations of the first ``frames[video]`` frames of each listed video."""

    def kept(image: dict) -> bool:  # file names: Frames/<video>/<frame, from 1>.png
        _, video, frame = image['file_name'].split('/')
        return video in frames and int(frame[:5]) <= frames[video]

    images = [image for image in annotations['images'] if kept(image)]
    ids = {image['id'] for image in images}
    return dict(annotations, images=images,
                annotations=[a for a in annotations['annotations'] if a['image_id'] in ids])


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    """Synthetic pose videos, the evaluation subsets, and a dense tiny-HRNet checkpoint."""
    from mmpose.apis import init_model
    tmp = tmp_path_factory.mktemp('dist_eval')
    root = tmp / 'data'
    subprocess.run([
        sys.executable, REPO / 'tools' / 'generate_synthetic_pose_videos.py', root, '--train', '4',
        '--test', '3', '--frames', '16'
    ], check=True, capture_output=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    annotations = json.loads((root / 'annotations' / 'Sub1_test.json').read_text())
    for name, frames in SUBSETS.items():
        (root / 'annotations' / f'{name}.json').write_text(
            json.dumps(keep_frames(annotations, frames)))
    torch.manual_seed(0)
    checkpoint = tmp / 'dense_init.pth'
    torch.save(dict(state_dict=init_model(str(DENSE), None, device='cpu').state_dict()), checkpoint)
    return dict(tmp=tmp, root=root, checkpoint=checkpoint, evaluations={})


def evaluate(videos: dict, subset: str, nproc: int) -> dict:
    """Metrics, dumped predictions and each rank's probed state of the SkipConv config
    (calibrated norm gates) on ``subset`` over ``nproc`` processes (cached)."""
    if (subset, nproc) not in videos['evaluations']:
        tmp = videos['tmp']
        work = tmp / f'{subset}_{nproc}'
        run_tool(TOOLS / 'test.py', nproc, [
            with_probe(tmp, SKIPCONV), videos['checkpoint'], '--work-dir', work, '--dump',
            work / 'predictions.pkl', '--cfg-options',
            f'test_dataloader.dataset.dataset.data_root={videos["root"]}/',
            f'test_dataloader.dataset.dataset.ann_file=annotations/{subset}.json'
        ], tmp)
        ranks = [
            torch.load(work / f'state_rank{rank}.pth', weights_only=False) for rank in range(nproc)
        ]
        videos['evaluations'][subset, nproc] = dict(
            metrics=ranks[0]['metrics'][0], ranks=ranks, predictions=pickle.loads(
                (work / 'predictions.pkl').read_bytes()))
    return videos['evaluations'][subset, nproc]


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU (gloo) path')
@pytest.mark.parametrize('subset,nproc', [('long_short', 2), ('two_videos', 3)])
def test_ranks_evaluate_videos_exactly_like_one_process(videos, subset, nproc):
    single, split = evaluate(videos, subset, 1), evaluate(videos, subset, nproc)
    frames = sum(SUBSETS[subset].values())
    print(f'{subset} on {nproc} ranks: {split["metrics"]}')
    assert {'PCK', 'macs/mac_ratio'} <= set(single['metrics'])
    assert 0 < single['metrics']['macs/mac_ratio'] < 1, 'the gates skip nothing: a weak check'
    assert split['metrics'] == single['metrics']
    assert all(rank['metrics'] == split['ranks'][0]['metrics'] for rank in split['ranks'])
    assert len(single['predictions']) == len(split['predictions']) == frames
    for one, many in zip(single['predictions'], split['predictions']):
        assert many['img_path'] == one['img_path']
        assert (many['pred_instances']['keypoints'] == one['pred_instances']['keypoints']).all()
    thresholds = [rank['thresholds'] for rank in split['ranks']]
    assert thresholds[0] and all(t == single['ranks'][0]['thresholds'] for t in thresholds)


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU (gloo) path')
def test_gumbel_training_keeps_gates_and_temperatures_identical_on_two_ranks(videos):
    tmp, work = videos['tmp'], videos['tmp'] / 'gumbel'
    config = with_probe(tmp, GUMBEL, 'train_dataloader = dict(batch_size=4)\n')
    log = run_tool(TOOLS / 'train.py', 2, [
        config, '--work-dir', work, '--cfg-options', f'load_from={videos["checkpoint"]}',
        f'train_dataloader.dataset.dataset.data_root={videos["root"]}/',
        f'val_dataloader.dataset.dataset.data_root={videos["root"]}/',
        'val_dataloader.dataset.dataset.ann_file=annotations/two_videos.json',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1'
    ], tmp)
    losses = [
        float(line.split(' loss: ')[1].split()[0]) for line in log.splitlines()
        if 'Epoch(train)' in line and ' loss: ' in line
    ]
    assert losses and all(math.isfinite(loss) for loss in losses)
    ranks = rank_states(work, 2)
    assert ranks[0]['temperatures'] == ranks[1]['temperatures']
    assert len(ranks[0]['temperatures']) >= 2 and ranks[0]['temperatures'][0]
    assert len({t for step in ranks[0]['temperatures'] for t in step}) >= 2, 'no annealing'
    for name, weight in ranks[0]['weights'].items():
        assert torch.equal(weight, ranks[1]['weights'][name]), f'{name} differs between ranks'


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU (gloo) path')
def test_two_ranks_evaluate_detection_videos_exactly_like_one_process(tmp_path):
    """mmdet's tools/test.py on the SkipConv EfficientDet config: videos of 8, 3 and 3 frames."""
    from mmdet.apis import init_detector

    from mmeff.utils import SyntheticDetectionConfig, write_synthetic_detection
    data = tmp_path / 'data'
    write_synthetic_detection(str(data), 'val', 3, SyntheticDetectionConfig(frames=8, objects=1),
                              first_seed=0)
    coco = json.loads((data / 'annotations' / 'val.json').read_text())
    images = [im for im in coco['images'] if im['video_id'] == 1 or im['frame_id'] < 3]
    ids = {im['id'] for im in images}
    (data / 'annotations' / 'uneven.json').write_text(
        json.dumps(
            dict(coco, images=images,
                 annotations=[a for a in coco['annotations'] if a['image_id'] in ids])))
    torch.manual_seed(0)
    checkpoint = tmp_path / 'init.pth'
    torch.save(dict(state_dict=init_detector(str(det.DENSE), None, device='cpu').state_dict()),
               checkpoint)
    ann = f'{data}/annotations/uneven.json'
    config = with_probe(
        tmp_path, det.SKIPCONV, hooks='[]',
        extra=(f"test_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict("
               f"data_root='{data}/', ann_file='annotations/uneven.json'))\n"
               f"test_evaluator = [dict(type='CocoMetric', ann_file='{ann}', metric='bbox'), "
               "dict(type='FrameMacsMetric')]\n"))
    runs = {}
    for nproc in (1, 2):
        work = tmp_path / f'ranks{nproc}'
        run_tool(det.TOOLS / 'test.py', nproc,
                 [config, checkpoint, '--work-dir', work, '--out', work / 'out.pkl'], tmp_path)
        runs[nproc] = dict(ranks=rank_states(work, nproc), predictions=pickle.loads(
            (work / 'out.pkl').read_bytes()))
    single, split = runs[1], runs[2]
    metrics = [rank['metrics'][0] for rank in split['ranks']]
    print(f'detection on 2 ranks: {metrics[0]}')
    assert 'coco/bbox_mAP' in metrics[0] and 0 < metrics[0]['macs/mac_ratio'] < 1
    assert metrics[0] == metrics[1] == single['ranks'][0]['metrics'][0]
    assert len(split['predictions']) == len(single['predictions']) == len(images)
    for one, many in zip(single['predictions'], split['predictions']):
        assert many['img_id'] == one['img_id']
        for key in ('labels', 'bboxes', 'scores'):
            assert torch.equal(many['pred_instances'][key], one['pred_instances'][key])


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU (gloo) path')
def test_three_ranks_stream_action_videos_exactly_like_one_process(tmp_path):
    """mmaction2's tools/test.py streaming the tiny MoViNet (StreamingTestLoop, one video per
    sample, DefaultSampler) over 3 ranks: 4 videos, so the sampler pads two ranks."""
    from mmaction.apis import init_recognizer

    from tests.e2e.test_mmaction_tools import CONFIG, dataset_options, mmaction_tool
    test_tool = mmaction_tool('test.py')
    data = tmp_path / 'data'
    subprocess.run([
        sys.executable, REPO / 'tools/generate_synthetic_actions.py', data, '--train', '1', '--val',
        '1', '--frames', '8', '--size', '32', '32'
    ], check=True, capture_output=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    torch.manual_seed(0)
    checkpoint = tmp_path / 'init.pth'
    torch.save(dict(state_dict=init_recognizer(str(CONFIG), None, device='cpu').state_dict()),
               checkpoint)
    config = with_probe(tmp_path, CONFIG, hooks='[]')
    runs = {}
    for nproc in (1, 3):
        work = tmp_path / f'ranks{nproc}'
        run_tool(test_tool, nproc, [
            config, checkpoint, '--work-dir', work, '--dump', work / 'out.pkl', '--cfg-options',
            *dataset_options(data)
        ], tmp_path)
        metrics = [{
            k: v
            for k, v in rank['metrics'][0].items() if k.startswith('acc/')
        } for rank in rank_states(work, nproc)]
        runs[nproc] = dict(metrics=metrics, predictions=pickle.loads(
            (work / 'out.pkl').read_bytes()))
    print(f'stream test on 3 ranks: {runs[3]["metrics"][0]}')
    assert 'acc/top1' in runs[1]['metrics'][0]
    assert all(m == runs[1]['metrics'][0] for m in runs[3]['metrics'])
    assert len(runs[3]['predictions']) == len(runs[1]['predictions']) == 4
    for one, many in zip(runs[1]['predictions'], runs[3]['predictions']):
        assert torch.equal(many['pred_score'], one['pred_score'])
