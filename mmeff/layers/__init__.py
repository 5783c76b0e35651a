"""Layers built on mmeff ops, registered in mmengine's root MODELS registry."""
from .output_sparse_conv2d import OutputSparseConv2d

__all__ = ['OutputSparseConv2d']
