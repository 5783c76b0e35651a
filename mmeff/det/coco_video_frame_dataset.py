"""COCO-video annotations read frame by frame, in temporal order."""
from typing import List, Union

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS


@DATASETS.register_module()
class CocoVideoFrameDataset(CocoDataset):
    """mmdet's ``CocoDataset`` for COCO-video annotations (a COCO JSON whose image entries carry
    ``video_id`` and ``frame_id``, e.g. ImageNet-VID converted to COCO-video style).

    Every data item gets ``video_id``, ``frame_id`` and ``stream_key`` (list them in
    ``PackDetInputs``' ``meta_keys`` to reach the model's data samples), and the items are
    ordered by video, then frame, so a sequential sampler feeds each video's frames in order
    (``mmeff.engine.VideoTestLoop`` starts a new stream at every new ``stream_key``).
    """

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        img_info = raw_data_info['raw_img_info']
        missing = [k for k in ('video_id', 'frame_id') if k not in img_info]
        if missing:
            raise KeyError(f'CocoVideoFrameDataset: image {img_info.get("file_name")!r} of '
                           f'{self.ann_file} has no {missing}; COCO-video annotations need '
                           'video_id and frame_id in every image entry')
        data_info = super().parse_data_info(raw_data_info)
        data_info['video_id'] = img_info['video_id']
        data_info['frame_id'] = img_info['frame_id']
        data_info['stream_key'] = f"video-{img_info['video_id']}"
        return data_info

    def load_data_list(self) -> List[dict]:
        data_list = super().load_data_list()
        return sorted(data_list, key=lambda info: (info['video_id'], info['frame_id']))
