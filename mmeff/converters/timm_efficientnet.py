"""timm EfficientNet / EfficientNet-CondConv state dicts -> mmdet's ``EfficientNet`` and
mmeff's ``EfficientNetCondConv`` backbones (same tensors, renamed)."""
import re
from typing import Dict, Tuple

from torch import Tensor

#: The mmdet layer of each of timm's seven block stages: mmdet merges a stage whose first
#: block has stride 1 (the 112- and 320-channel stages of B0) into the layer before it.
MMDET_LAYER_OF_STAGE = (1, 2, 3, 4, 4, 5, 5)

#: timm module -> mmdet/mmeff module, per block kind: the depthwise-separable first stage,
#: the static inverted residual and the CondConv inverted residual (one router per block).
BLOCK_RENAMES = {
    'depthwise_separable': {
        'conv_dw': 'depthwise_conv.conv',
        'bn1': 'depthwise_conv.bn',
        'conv_pw': 'linear_conv.conv',
        'bn2': 'linear_conv.bn'
    },
    'inverted_residual': {
        'conv_pw': 'expand_conv.conv',
        'bn1': 'expand_conv.bn',
        'conv_dw': 'depthwise_conv.conv',
        'bn2': 'depthwise_conv.bn',
        'conv_pwl': 'linear_conv.conv',
        'bn3': 'linear_conv.bn'
    },
    'condconv': {
        'routing_fn': 'router.fc',
        'conv_pw': 'expand_conv',
        'bn1': 'expand_norm',
        'conv_dw': 'depthwise_conv',
        'bn2': 'depthwise_norm',
        'conv_pwl': 'linear_conv',
        'bn3': 'linear_norm'
    },
}
SE_RENAMES = {'se.conv_reduce': 'se.conv1.conv', 'se.conv_expand': 'se.conv2.conv'}
TOP_RENAMES = {
    'conv_stem': 'layers.0.conv',
    'bn1': 'layers.0.bn',
    'conv_head': 'layers.6.conv',
    'bn2': 'layers.6.bn'
}
#: timm's classifier, which a backbone does not have.
HEAD_PREFIX = 'classifier.'

BLOCK_KEY = re.compile(r'blocks\.(\d+)\.(\d+)\.(.+)')


def block_kind(state_dict: Dict[str, Tensor], stage: int, index: int) -> str:
    """Which of :data:`BLOCK_RENAMES` timm's block ``blocks.<stage>.<index>`` is."""
    prefix = f'blocks.{stage}.{index}.'
    if prefix + 'routing_fn.weight' in state_dict:
        return 'condconv'
    if prefix + 'conv_pwl.weight' in state_dict:
        return 'inverted_residual'
    return 'depthwise_separable'


def mmdet_block_positions(state_dict: Dict[str, Tensor]) -> Dict[Tuple[int, int], str]:
    """(stage, index) of each timm block -> its mmdet prefix ``layers.<layer>.<position>``."""
    blocks = sorted({(int(m[1]), int(m[2])) for m in map(BLOCK_KEY.fullmatch, state_dict) if m})
    positions, seen = {}, {}
    for stage, index in blocks:
        if stage >= len(MMDET_LAYER_OF_STAGE):
            raise ValueError(f'convert_timm_efficientnet: state_dict has block stage {stage}; '
                             f'EfficientNet B0-B8 have {len(MMDET_LAYER_OF_STAGE)}')
        layer = MMDET_LAYER_OF_STAGE[stage]
        positions[stage, index] = f'layers.{layer}.{seen.get(layer, 0)}'
        seen[layer] = seen.get(layer, 0) + 1
    return positions


def rename(module_key: str, renames: Dict[str, str], where: str) -> str:
    """``module_key`` (``module.param``) with its module renamed by the longest match."""
    for old in sorted(renames, key=len, reverse=True):
        if module_key.startswith(old + '.'):
            return renames[old] + module_key[len(old):]
    raise ValueError(f'convert_timm_efficientnet: state_dict key {where!r} has no counterpart '
                     'in the mmdet backbone')


def convert_timm_efficientnet(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """The state dict of a timm EfficientNet (``tf_efficientnet_b0``...) or
    EfficientNet-CondConv (``tf_efficientnet_cc_b0_4e``, ``_8e``, ``cc_b1_8e``) for mmdet's
    ``EfficientNet`` or mmeff's ``EfficientNetCondConv`` of the same arch and expert count.

    The tensors are shared, not copied; timm's CondConv weights are already in
    ``CondConv2d``'s layout (E, C_out·C_in/groups·kh·kw). timm's classifier is dropped. Load
    the result with ``strict=True`` into a backbone whose ``out_indices`` include 6 (the final
    1×1 conv), otherwise ``strict=False``. Use timm's ``tf_`` models: their TensorFlow 'same'
    padding is the padding of mmdet's default ``Conv2dAdaptivePadding``.

    Raises:
        ValueError: naming a key of ``state_dict`` that has no counterpart.
    """
    positions = mmdet_block_positions(state_dict)
    converted = {}
    for key, value in state_dict.items():
        if key.startswith(HEAD_PREFIX):
            continue
        match = BLOCK_KEY.fullmatch(key)
        if match is None:
            converted[rename(key, TOP_RENAMES, key)] = value
            continue
        stage, index, rest = int(match[1]), int(match[2]), match[3]
        renames = {**BLOCK_RENAMES[block_kind(state_dict, stage, index)], **SE_RENAMES}
        converted[f'{positions[stage, index]}.{rename(rest, renames, key)}'] = value
    return converted
