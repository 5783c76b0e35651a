"""Shared test helpers."""
import pytest
import torch

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                   reason='needs a CUDA GPU; none is visible on this machine')


def block_mask(n: int, h: int, w: int, block: int, density: float, seed: int = 0) -> torch.Tensor:
    """Bool (n, h, w) mask made of block x block tiles, about `density` of them active."""
    g = torch.Generator().manual_seed(seed)
    tiles = torch.rand(n, -(-h // block), -(-w // block), generator=g) < density
    full = tiles.repeat_interleave(block, 1).repeat_interleave(block, 2)
    return full[:, :h, :w].contiguous()


def build_model(model_cfg, scope: str) -> torch.nn.Module:
    """Build a model config from the registry of toolbox ``scope`` (mmdet, mmpose, mmaction)."""
    from mmengine.registry import init_default_scope
    init_default_scope(scope)
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    return registry.build(model_cfg)
