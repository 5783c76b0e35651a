"""A synthetic action-recognition dataset whose classes are defined by motion only.

Each video shows a few bright squares on a dark background moving together, wrapping around the
frame edges, with sensor noise. The class is the direction of motion (right, left, down, up).
Positions, sizes, colours and speed are random and positions stay uniform over the frame in
every frame, so one frame does not tell the class; two or more do. Written in mmaction2's
``VideoDataset`` format (a list file of ``relative/path.mp4 label`` lines plus the videos) with
OpenCV.
"""
from pathlib import Path
from typing import Dict, Tuple

import cv2
import numpy as np

ACTIONS = ('move_right', 'move_left', 'move_down', 'move_up')
_DIRECTIONS = {0: (1, 0), 1: (-1, 0), 2: (0, 1), 3: (0, -1)}  # (dx, dy) per label


def _smooth_texture(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) float texture in [0, 1]: coarse random colours upsampled bilinearly."""
    coarse = rng.random((4, 4, 3)).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)


def synthetic_action_video(label: int, frames: int = 16, size: Tuple[int, int] = (48, 64),
                           seed: int = 0) -> np.ndarray:
    """One video of class ``label`` (see :data:`ACTIONS`): uint8 (T, H, W, 3), BGR.

    Two to four bright squares (a quarter to a third of the frame wide) on a dark textured
    background shift together, wrapping around the frame edges, by 10-20 % of the frame per
    frame. Wrapping keeps every square's position uniform over the frame in every frame, so no
    single frame carries the class.
    """
    if label not in _DIRECTIONS:
        raise ValueError(f'label must be in 0..{len(ACTIONS) - 1}, got {label}')
    height, width = size
    rng = np.random.default_rng(seed)
    dx, dy = _DIRECTIONS[label]
    scene = 0.25 * _smooth_texture(height, width, rng)
    for _ in range(int(rng.integers(2, 5))):
        side = int(rng.uniform(0.25, 0.34) * min(height, width))
        y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
        square = np.zeros((height, width), bool)
        square[:side, :side] = True
        scene[np.roll(square, (y, x), axis=(0, 1))] = 0.6 + 0.4 * rng.random(3)
    speed = rng.uniform(0.1, 0.2) * (width if dx else height)
    video = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        shift = int(round(speed * t))
        frame = np.roll(scene, (dy * shift, dx * shift), axis=(0, 1))
        frame = frame + rng.normal(0, 0.02, frame.shape).astype(np.float32)
        video[t] = (np.clip(frame, 0, 1) * 255).astype(np.uint8)
    return video


def write_video(path: Path, video: np.ndarray, fps: int = 10) -> None:
    """Write uint8 (T, H, W, 3) BGR frames as an mp4 (mp4v) file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (video.shape[2], video.shape[1]))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write {path}')
    for frame in video:
        writer.write(frame)
    writer.release()


def write_action_dataset(root: str, videos_per_class: Dict[str, int], frames: int = 16,
                         size: Tuple[int, int] = (48, 64), seed: int = 0) -> Dict[str, Path]:
    """Write ``root/videos/<split>/*.mp4`` and ``root/<split>_list.txt`` for each split
    (e.g. ``{'train': 16, 'val': 4}`` videos per class); returns the list files by split."""
    root_path = Path(root)
    lists = {}
    for split_index, (split, count) in enumerate(videos_per_class.items()):
        lines = []
        for label in range(len(ACTIONS)):
            for i in range(count):
                name = f'{split}/{ACTIONS[label]}_{i:04d}.mp4'
                entropy = [seed, split_index, label, i]
                video_seed = int(np.random.SeedSequence(entropy).generate_state(1)[0])
                write_video(root_path / 'videos' / name,
                            synthetic_action_video(label, frames, size, video_seed))
                lines.append(f'{name} {label}')
        lists[split] = root_path / f'{split}_list.txt'
        lists[split].write_text('\n'.join(lines) + '\n')
    return lists
