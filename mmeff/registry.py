"""Registries mmeff registers into.

Generic layers go into mmengine's root ``MODELS``: ``build_conv_layer`` (mmcv) and every
toolbox registry (mmdet, mmpose, mmaction2) fall back to the root, so
``conv_cfg=dict(type='OutputSparseConv2d')`` works inside stock backbones of all three.
"""
from mmengine.registry import MODELS

__all__ = ['MODELS']
