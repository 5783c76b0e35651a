"""mmpose parts of mmeff: video datasets (per-track order, stable crops, training clips) and
the clip-trained top-down estimator, registered in mmpose's registries. Imported automatically
when ``mmpose.models`` loads (see ``mmeff.registry``)."""
from .clip_pose_estimator import ClipTopdownPoseEstimator
from .video_dataset import VideoClipDataset, VideoPoseDataset, clip_pseudo_collate, indices_by_track
from .video_tracks import IoUTracker, StableCrop, assign_tracks, box_iou, stable_crop_boxes

__all__ = [
    'ClipTopdownPoseEstimator', 'VideoClipDataset', 'VideoPoseDataset', 'clip_pseudo_collate',
    'indices_by_track', 'IoUTracker', 'StableCrop', 'assign_tracks', 'box_iou', 'stable_crop_boxes'
]
