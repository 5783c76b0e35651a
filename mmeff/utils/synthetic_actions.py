"""A synthetic action-recognition dataset whose classes are defined by motion only.

Each video shows a blocky random scene panning across the frame (as under a moving camera),
with sensor noise. The class is the direction the scene moves (right, left, down, up). Scene,
cell size and speed are random, so one frame does not tell the class (every frame is a random
scene); two or more do. Written in mmaction2's ``VideoDataset`` format (a list file of
``relative/path.mp4 label`` lines plus the videos) with OpenCV.
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

    A blocky random scene (cells of 4-8 px per 32 px of frame, three grey levels per channel)
    pans across the frame at 2-4 px per frame per 32 px of frame size.
    """
    if label not in _DIRECTIONS:
        raise ValueError(f'label must be in 0..{len(ACTIONS) - 1}, got {label}')
    height, width = size
    rng = np.random.default_rng(seed)
    dx, dy = _DIRECTIONS[label]
    speed = rng.uniform(4.0, 8.0) * min(height, width) / 32
    travel = int(np.ceil(speed * (frames - 1)))
    cell = int(rng.integers(8, 17)) * max(1, min(height, width) // 32)
    canvas_h, canvas_w = height + travel * abs(dy), width + travel * abs(dx)
    cells = rng.choice([0.1, 0.5, 0.9], size=(-(-canvas_h // cell), -(-canvas_w // cell), 3))
    canvas = np.kron(cells, np.ones((cell, cell, 1)))[:canvas_h, :canvas_w].astype(np.float32)
    video = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        shift = speed * t
        left = int(round(travel - shift)) if dx > 0 else int(round(shift)) if dx < 0 else 0
        top = int(round(travel - shift)) if dy > 0 else int(round(shift)) if dy < 0 else 0
        frame = canvas[top:top + height, left:left + width].copy()
        frame += rng.normal(0, 0.02, frame.shape).astype(np.float32)
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
                video_seed = int(np.random.SeedSequence([seed, split_index, label, i]).generate_state(1)[0])
                write_video(root_path / 'videos' / name,
                            synthetic_action_video(label, frames, size, video_seed))
                lines.append(f'{name} {label}')
        lists[split] = root_path / f'{split}_list.txt'
        lists[split].write_text('\n'.join(lines) + '\n')
    return lists
