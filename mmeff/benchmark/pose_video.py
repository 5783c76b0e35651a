"""A top-down pose model watching a synthetic video with a static camera, and how closely two
models' keypoints agree: the pieces of ``tools/benchmark_skipconv_video.py``."""
import os
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import CheckpointLoader, load_state_dict
from mmpose.datasets.transforms import GetBBoxCenterScale, TopdownAffine
from mmpose.evaluation.functional import keypoint_pck_accuracy

from ..utils import SyntheticVideoConfig, synthetic_video
from ..utils.synthetic_pose_dataset import JHMDB_FROM_SYNTHETIC


def checkpoint_weights(path: Optional[str]) -> Optional[dict]:
    """The state dict of the checkpoint at ``path`` (None without one)."""
    if not path:
        return None
    state = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    return state.get('state_dict', state)


def build_hrnet(config: str, weights: Optional[dict]) -> torch.nn.Module:
    """The top-down estimator of ``config`` with ``weights`` (a state dict, or None: random);
    the parameters of trained SkipConv gates in ``weights`` (``*.gate.*``) are left out."""
    init_default_scope('mmpose')
    from mmpose.registry import MODELS
    if '::' not in config:  # a file: fromstring resolves _base_ from a temporary folder
        config = os.path.abspath(config)
    cfg = Config.fromstring(f"_base_ = '{config}'\nmodel = dict(backbone=dict(init_cfg=None))\n",
                            file_format='.py')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    if weights is not None:
        load_state_dict(model, {k: v for k, v in weights.items() if '.gate.' not in k}, strict=True)
    return model.eval()


@torch.no_grad()
def calibrate_batchnorm(model: torch.nn.Module, frames: torch.Tensor) -> None:
    """BatchNorm statistics of random weights measured on real frames, as a trained model's."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    model.train()
    model(frames, None, mode='tensor')
    model.eval()


def path_box(keypoints: torch.Tensor) -> dict:
    """The top-down box of a figure over a whole video, as mmpose's ``GetBBoxCenterScale``
    makes it: the box of all its (T, K, 2) keypoints, padded by 1.25."""
    corners = torch.cat([keypoints.flatten(0, 1).amin(0), keypoints.flatten(0, 1).amax(0)])
    return GetBBoxCenterScale()(dict(bbox=corners.numpy()[None].astype(np.float32)))


def topdown_crops(frames: torch.Tensor, box: dict, input_size: Tuple[int, int],
                  keypoints: Optional[torch.Tensor] = None):
    """(T, 3, H, W) frames -> (T, 3, h, w) crops of the one ``box``, warped by mmpose's
    ``TopdownAffine`` to ``input_size`` (w, h); with ``keypoints`` (T, K, 2), also those
    keypoints in crop pixels."""
    affine = TopdownAffine(input_size=input_size)
    crops, moved = [], []
    for t, frame in enumerate(frames):
        result = affine(
            dict(img=np.ascontiguousarray(frame.permute(1, 2, 0).numpy()),
                 bbox_center=box['bbox_center'].copy(), bbox_scale=box['bbox_scale'].copy(),
                 keypoints=None if keypoints is None else keypoints[t].numpy()[None]))
        crops.append(torch.from_numpy(result['img']).permute(2, 0, 1))
        if keypoints is not None:
            moved.append(torch.from_numpy(result['transformed_keypoints'][0]))
    return torch.stack(crops), (torch.stack(moved) if keypoints is not None else None)


def topdown_video(cfg: SyntheticVideoConfig, model: torch.nn.Module, noise: float,
                  noise_seeds: Sequence[int]):
    """A rendered video seen by ``model``, a top-down estimator, with a static camera: the
    crop of one box around figure 0's whole path, at the model's input size. Returns the
    figure's true keypoints in crop pixels, JHMDB order (T, 15, 2), and the normalised crops
    (T, 3, h, w) of the video with its sensor noise drawn with each of ``noise_seeds``.

    The one box keeps every frame's crop static, so the benchmark measures skipping between
    key frames; video evaluation (:func:`mmeff.pose.stable_crop_boxes`) instead re-crops when
    a person leaves the crop, and each re-crop is a key frame."""
    input_size = tuple(model.head.decoder.input_size)
    clean, truth = synthetic_video(cfg)
    extent = (truth[:, 0, :, 0].amax() - truth[:, 0, :, 0].amin()).item()
    if extent > cfg.width / 2:  # the figure wrapped around or crossed much of the frame
        raise ValueError(f'topdown_video: the figure\'s path over {cfg.frames} frames spans '
                         f'{extent:.0f} of the {cfg.width} px of the frame, so one crop cannot '
                         'follow it; lower the walking speed (--max-speed)')
    box = path_box(truth[:, 0])
    joints = topdown_crops(clean, box, input_size, truth[:, 0, list(JHMDB_FROM_SYNTHETIC)])[1]
    videos = [
        normalise(topdown_crops(add_sensor_noise(clean, noise, seed), box, input_size)[0], model)
        for seed in noise_seeds
    ]
    return joints, videos


def decoded_keypoints(model: torch.nn.Module, heatmaps: torch.Tensor) -> torch.Tensor:
    """(N, K, h, w) -> (N, K, 2) keypoints in input pixels, decoded by the model's own codec
    (mmpose's MSRAHeatmap: the heatmap maximum moved a quarter cell towards its larger
    neighbour), as mmpose reports
    them."""
    decoder = model.head.decoder
    return torch.stack([torch.from_numpy(decoder.decode(h.numpy())[0][0]) for h in heatmaps])


def peak_cells(heatmaps: torch.Tensor) -> torch.Tensor:
    """(N, K, h, w) -> (N, K) index of each heatmap's maximum."""
    return heatmaps.flatten(2).argmax(-1)


def add_sensor_noise(clean: torch.Tensor, std: float, seed: int) -> torch.Tensor:
    """(T, 3, H, W) frames in [0, 1] plus Gaussian noise, clamped to [0, 1]."""
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed))
    return (clean + std * noise).clamp(0, 1)


def normalise(frames: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    """RGB frames in [0, 1] normalised with the mean and std of ``model``'s data preprocessor
    (given in 0-255 units, as mmpose's configs give them)."""
    preprocessor = model.data_preprocessor
    return (frames * 255 - preprocessor.mean) / preprocessor.std


def keypoint_agreement(model: torch.nn.Module, got: torch.Tensor, want: torch.Tensor) -> float:
    """Share of the keypoints decoded from heatmaps ``got`` within 2 px of those of ``want``."""
    distance = (decoded_keypoints(model, got) - decoded_keypoints(model, want)).norm(dim=-1)
    return (distance <= 2).float().mean().item()


def pck(model: torch.nn.Module, heatmaps: torch.Tensor, truth: torch.Tensor, thr: float) -> float:
    """PCK of the keypoints decoded from ``heatmaps`` (N, K, h, w) against the true (N, K, 2),
    normalised by the size of the true keypoints' box (JHMDB's PCK, mmpose's
    ``keypoint_pck_accuracy``)."""
    size = (truth.amax(1) - truth.amin(1)).amax(-1, keepdim=True).repeat(1, 2).numpy()
    mask = np.ones(truth.shape[:2], dtype=bool)
    return float(
        keypoint_pck_accuracy(
            decoded_keypoints(model, heatmaps).numpy(), truth.numpy(), mask, thr, size)[1])


def same_peak_cell(got: torch.Tensor, want: torch.Tensor) -> float:
    """Share of heatmaps of ``got`` whose maximum is in the same cell as ``want``'s (the
    strictest agreement: neighbouring cells are 4 input px apart)."""
    return (peak_cells(got) == peak_cells(want)).float().mean().item()
