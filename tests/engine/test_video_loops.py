"""VideoTestLoop in mmengine's Runner: frame by frame, one SkipConv stream per stream_key
(across batches), each frame's MACs in its sample, calibration forwards not counted."""
import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.registry import METRICS
from mmengine.runner import Runner
from torch import nn

from mmeff.engine.video_loops import VideoStreams, run_video_frames
from mmeff.utils import MacCounter
from tests.engine.video_model import TinyVideoModel, frame_dataset

SKIP_MACS = 8 * 8 * 2 * 1 * 9  # per frame, dense
HEAD_MACS = 8 * 8 * 1 * 2
RECORDED: list = []


@METRICS.register_module(force=True)
class RecordSamples(BaseMetric):
    """Keeps the evaluated samples in RECORDED."""

    def process(self, data_batch, data_samples) -> None:
        self.results.extend(data_samples)

    def compute_metrics(self, results: list) -> dict:
        RECORDED[:] = results
        return {}


def run_test_loop(tmp_path, dataset, loop='VideoTestLoop', hooks=()):
    torch.manual_seed(0)
    runner = Runner(
        model=TinyVideoModel(), work_dir=str(tmp_path),
        test_dataloader=dict(dataset=dataset, batch_size=4, collate_fn=dict(type='pseudo_collate'),
                             sampler=dict(type='DefaultSampler',
                                          shuffle=False)), test_cfg=dict(type=loop),
        test_evaluator=[dict(type='FrameMacsMetric'),
                        dict(type='RecordSamples')], custom_hooks=list(hooks),
        default_hooks=dict(logger=None,
                           checkpoint=None), env_cfg=dict(dist_cfg=dict(backend='gloo')),
        log_level='WARNING', experiment_name=f'video_loop_{tmp_path.name}')
    RECORDED.clear()
    metrics = runner.test()
    return metrics, list(RECORDED), runner.model


def two_streams():
    """Stream a: a frame, the same, one pixel changed; stream b: a's last frame three times."""
    first = torch.rand(1, 8, 8)
    changed = first.clone()
    changed[0, 0, 0] += 1
    return frame_dataset([first, first, changed, changed, changed, changed],
                         ['a', 'a', 'a', 'b', 'b', 'b'])


def test_frames_run_per_stream_with_their_macs(tmp_path):
    dataset = two_streams()
    hook = dict(type='NormGateCalibrationHook', relative=0.0, num_frames=6)  # runs the model
    metrics, samples, model = run_test_loop(tmp_path, dataset, hooks=[hook])
    assert [s['dense_macs'] for s in samples] == [SKIP_MACS + HEAD_MACS] * 6
    executed = [s['executed_macs'] - HEAD_MACS for s in samples]
    block = 4 * 4 * 2 * 9  # the one 4x4 output block whose window holds the changed pixel
    # key frames where a stream starts (b's first frame equals a's last: still a key frame);
    # b's frames 2 and 3 come in the next batch and continue its stream
    assert executed == [SKIP_MACS, 0, block, SKIP_MACS, 0, 0]
    assert metrics['macs/dense_gmacs'] == pytest.approx((SKIP_MACS + HEAD_MACS) / 1e9)
    assert metrics['macs/mac_ratio'] == pytest.approx(
        sum(s['executed_macs'] for s in samples) / (6 * (SKIP_MACS + HEAD_MACS)))
    with torch.no_grad():  # threshold 0: every output equals the dense model's
        for sample, item in zip(samples, dataset):
            want = model.head(model.skip.dense(item['inputs'][None]))[0]
            torch.testing.assert_close(sample['output'], want)


def test_samples_without_a_stream_key_are_key_frames(tmp_path):
    frame = torch.rand(1, 8, 8)
    _, samples, _ = run_test_loop(tmp_path, frame_dataset([frame] * 3))
    assert [s['executed_macs'] for s in samples] == [SKIP_MACS + HEAD_MACS] * 3


def test_the_stock_loop_gives_no_frame_macs(tmp_path):
    with pytest.raises(KeyError, match='VideoValLoop / VideoTestLoop'):
        run_test_loop(tmp_path, two_streams(), loop='TestLoop')


class ConvDetector(BaseModel):
    """A conv ``backbone`` (1 -> 2, 3x3) and a 1x1 ``head``; predict returns the samples."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Conv2d(1, 2, 3, padding=1)
        self.head = nn.Conv2d(2, 1, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.head(self.backbone(torch.stack(inputs)))
        return out if mode == 'tensor' else data_samples


def test_frames_of_a_model_with_a_backbone_carry_its_macs():
    model = ConvDetector()
    items = frame_dataset([torch.rand(1, 8, 8)] * 2)
    batch = dict(inputs=[i['inputs'] for i in items],
                 data_samples=[i['data_samples'] for i in items])
    with torch.no_grad(), MacCounter(model) as counter:
        samples = run_video_frames(model, 'test_step', batch, VideoStreams(), counter)
    backbone, head = 8 * 8 * 2 * 9, 8 * 8 * 2
    for sample in samples:
        assert sample.backbone_dense_macs == sample.backbone_executed_macs == backbone
        assert sample.dense_macs == backbone + head
