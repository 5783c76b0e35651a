"""The models of the video pose pipeline: an mmdet person detector and an mmpose top-down model,
each dense (BatchNorm folded) and as a SkipConv copy, built from config plus checkpoint (path or
URL) as the toolboxes' own ``init_detector`` and ``init_model`` load them."""
import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.logging import print_log
from mmengine.registry import DefaultScope

from ..converters import calibrate_norm_gates, convert_to_skipconv
from ..layers import StreamState
from ..utils import fold_batchnorms


def pose_test_pipeline(cfg: Config) -> Compose:
    """The pose config's test pipeline, built in mmpose's scope (the detector's may be set)."""
    dataset = cfg.test_dataloader.dataset
    while 'pipeline' not in dataset:  # unwrap VideoPoseDataset and the like
        dataset = dataset.dataset
    with DefaultScope.overwrite_default_scope('mmpose'):
        return Compose(dataset.pipeline)


def input_aspect_ratio(pipeline: Compose) -> Optional[float]:
    """Width / height of the pose model's input (its TopdownAffine's ``input_size``)."""
    sizes = [t.input_size for t in pipeline.transforms if hasattr(t, 'input_size')]
    return sizes[0][0] / sizes[0][1] if sizes else None


def with_skipconv_copy(dense: torch.nn.Module, block: int):
    """``dense`` with its BatchNorms folded (the same arithmetic as the SkipConv copy) and its
    SkipConv copy (input-norm gates on ``block`` x ``block`` blocks, thresholds set later)."""
    fold_batchnorms(dense.eval())
    gate = dict(type='InputNormGate', block_size=block)
    return dense, convert_to_skipconv(copy.deepcopy(dense), gate=gate)


def build_pose_models(config: Path, checkpoint: str, block: int):
    """The dense pose model and its SkipConv copy, both without flip test: a flipped pass of the
    SkipConv model would run through the same stream as the frame's own."""
    from mmpose.apis import init_model
    model = init_model(str(config), checkpoint, device='cpu')
    if (model.test_cfg or {}).get('flip_test'):
        print_log('video_demo: flip test is turned off for both pose models', logger='current')
    model.test_cfg = dict(model.test_cfg or {}, flip_test=False)
    return with_skipconv_copy(model, block)


class Detector:
    """An mmdet detector run on whole frames: the person boxes of class ``cat_id`` scored above
    ``bbox_thr``. ``skip`` is its SkipConv copy (own stream) or None; the boxes always come from
    the dense model, so both pose pipelines see the same tracks."""

    def __init__(self, config: Path, checkpoint: str, cat_id: int, bbox_thr: float, skipconv: bool,
                 block: int):
        from mmdet.apis import init_detector
        from mmdet.utils import get_test_pipeline_cfg
        model = init_detector(str(config), checkpoint, device='cpu')
        pipeline = get_test_pipeline_cfg(model.cfg)
        pipeline[0].type = 'LoadImageFromNDArray'
        for transform in pipeline:  # mmdet's transforms, whatever the default scope
            transform.type = transform.type if '.' in transform.type else f'mmdet.{transform.type}'
        self.pipeline = Compose(pipeline)
        self.dense, skip = with_skipconv_copy(model, block)
        self.skip = skip if skipconv else None
        self.stream = StreamState()
        self.cat_id, self.bbox_thr = cat_id, bbox_thr

    def batch(self, frame: np.ndarray) -> dict:
        return pseudo_collate([self.pipeline(dict(img=frame, img_id=0))])

    def boxes(self, sample) -> np.ndarray:
        """(K, 4) person boxes (x1, y1, x2, y2) of a detection result."""
        instances = sample.pred_instances
        keep = (instances.labels == self.cat_id) & (instances.scores > self.bbox_thr)
        return instances.bboxes[keep].numpy().astype(np.float64)

    def calibrate(self, frames: List[np.ndarray], relative: float) -> None:
        if self.skip is not None:
            calibrate_norm_gates(self.skip, [self.batch(f) for f in frames], relative,
                                 forward=self.skip.test_step)


@dataclass
class ComparedModel:
    """Another dense pose model timed on the same crops (e.g. RTMPose-m, what a CPU user would
    otherwise pick); its keypoints are not scored."""
    model: torch.nn.Module
    pipeline: Compose


def load_compared(config: Path, checkpoint: Optional[str]) -> ComparedModel:
    from mmpose.apis import init_model
    model = init_model(str(config), checkpoint, device='cpu').eval()
    fold_batchnorms(model)  # as the dense model
    model.test_cfg = dict(model.test_cfg, flip_test=False)  # as the other two
    return ComparedModel(model, pose_test_pipeline(model.cfg))


def load_or_fallback(what: str, init, *args):
    """``init(*args)``, or None with the reason printed when the weights cannot be loaded."""
    try:
        return init(*args)
    except (OSError, RuntimeError, ValueError) as error:  # unreachable URL, missing file
        print_log(f'video_demo: cannot load the {what}: {error}', logger='current',
                  level=logging.WARNING)
        return None
