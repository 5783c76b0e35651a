"""mmeff.apis.video_pose_models: a stock mmdet config as the person detector."""
from pathlib import Path

import numpy as np

from mmeff.apis import Detector


def test_a_stock_mmdet_config_runs_as_the_person_detector(tmp_path):
    """mmdet's stock RTMDet-tiny COCO config, unchanged (random weights stand in for the COCO
    checkpoint): the demo's detector builds its pipeline and returns (K, 4) person boxes."""
    import mmdet
    import torch
    from mmdet.apis import init_detector
    config = (Path(mmdet.__file__).parent / '.mim' / 'configs' / 'rtmdet' /
              'rtmdet_tiny_8xb32-300e_coco.py')
    checkpoint = tmp_path / 'rtmdet_random.pth'
    torch.manual_seed(0)
    torch.save(dict(state_dict=init_detector(str(config), None, device='cpu').state_dict()),
               checkpoint)
    detector = Detector(config, str(checkpoint), cat_id=0, bbox_thr=0.0, skipconv=False, block=4)
    frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    with torch.no_grad():
        (sample, ) = detector.dense.test_step(detector.batch(frame))
    instances = sample.pred_instances
    assert len(instances) > 0  # random weights: boxes of random classes
    detector.cat_id = int(instances.labels[0])  # the class of the top box stands for people
    boxes = detector.boxes(sample)
    want = instances.bboxes[instances.labels == detector.cat_id].numpy()
    assert boxes.shape == (len(want), 4) and len(boxes) > 0
    np.testing.assert_array_equal(boxes, want)
    # in the frame's pixels (320 x 240), not the 640 x 640 network input's
    assert (boxes[:, :2] >= -1).all() and (boxes[:, 2] <= 321).all() and (boxes[:, 3] <= 241).all()
