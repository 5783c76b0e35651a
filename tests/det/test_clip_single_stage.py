"""ClipSingleStageDetector: clip batches through SkipConv Gumbel gates, with the gate MAC loss."""
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmeff.det import ClipSingleStageDetector
from tests.helpers import build_model


def detector_cfg(clip_len=2):
    """A tiny one-level RetinaNet (ResNet stem and one 4-channel stage, stride 8), converted."""
    return dict(
        type='SkipConvModel', gate=dict(type='GumbelGate', block_size=2), model=dict(
            type='ClipSingleStageDetector', clip_len=clip_len, gate_loss_weight=0.5,
            data_preprocessor=dict(type='DetDataPreprocessor', mean=[0.0] * 3, std=[255.0] * 3),
            backbone=dict(type='ResNet', depth=18, base_channels=4, num_stages=1, strides=(2, ),
                          dilations=(1, ), out_indices=(0, ), norm_eval=False),
            bbox_head=dict(
                type='RetinaHead', num_classes=2, in_channels=4, stacked_convs=1, feat_channels=4,
                anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                      scales_per_octave=1, ratios=[1.0], strides=[8]),
                bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                                target_stds=[1.0] * 4),
                loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                              alpha=0.25), loss_bbox=dict(type='L1Loss')), train_cfg=dict(
                                  assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5,
                                                neg_iou_thr=0.4, min_pos_iou=0),
                                  sampler=dict(type='PseudoSampler'), allowed_border=-1,
                                  pos_weight=-1, debug=False)))


def clip_batch(model, frames=4, size=32):
    """``frames`` images of a square moving right on a static background, one box each."""
    g = torch.Generator().manual_seed(0)
    background = (torch.rand(3, size, size, generator=g) * 255).to(torch.uint8)
    inputs, samples = [], []
    for t in range(frames):
        image = background.clone()
        image[:, 8:20, 4 + t:16 + t] = 255
        sample = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
        sample.gt_instances = InstanceData(bboxes=torch.tensor([[4.0 + t, 8, 16.0 + t, 20]]),
                                           labels=torch.tensor([t % 2]))
        inputs.append(image)
        samples.append(sample)
    return model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    detector = build_model(detector_cfg(), 'mmdet').train()
    assert isinstance(detector, ClipSingleStageDetector)
    return detector


def test_loss_runs_the_clip_recurrence_and_adds_the_gate_loss(model):
    batch = clip_batch(model)
    losses = model.loss(batch['inputs'], batch['data_samples'])
    assert {'loss_cls', 'loss_bbox', 'loss_gate', 'mac_share'} <= set(losses)
    gated = [m for m in model.modules() if hasattr(m, 'gate_usage')]
    assert gated and all(m.gate_usage is not None for m in gated)  # inside training_clip(2)
    assert 0 < losses['mac_share'].item() <= 1 and not losses['mac_share'].requires_grad
    assert losses['loss_gate'].item() == pytest.approx(0.5 * losses['mac_share'].item())
    losses['loss_gate'].backward()
    gate_grads = [p.grad for n, p in model.named_parameters() if '.gate.conv' in n]
    assert gate_grads and any(g is not None and g.abs().sum() > 0 for g in gate_grads)


def test_batches_that_are_not_whole_clips_are_rejected(model):
    batch = clip_batch(model, frames=3)
    with pytest.raises(ValueError, match='clip_len=2; use VideoClipSampler'):
        model.loss(batch['inputs'], batch['data_samples'])


def test_clips_need_two_frames():
    with pytest.raises(ValueError, match='clip_len must be >= 2, got 1'):
        build_model(detector_cfg(clip_len=1), 'mmdet')
