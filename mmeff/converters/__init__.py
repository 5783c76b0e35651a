"""Model converters: turn stock models into efficient ones with the same weights."""
from .fuse_condconv import fuse_condconv, fused_conv
from .kgs import convert_to_kgs
from .skipconv import convert_to_skipconv
from .skipconv_calibration import calibrate_norm_gates, measure_window_norms, norm_gate_layers
from .skipconv_crossover import crossover_share, measure_dense_crossovers
from .skipconv_model import build_skipconv_model
from .skipconv_tuning import (TuningResult, TuningStep, by_resolution, relative_l2_error,
                              tune_norm_gates)
from .timm_efficientnet import convert_timm_efficientnet

__all__ = [
    'convert_to_skipconv', 'build_skipconv_model', 'calibrate_norm_gates', 'measure_window_norms',
    'norm_gate_layers', 'crossover_share', 'measure_dense_crossovers', 'TuningResult', 'TuningStep',
    'by_resolution', 'relative_l2_error', 'tune_norm_gates', 'fuse_condconv', 'fused_conv',
    'convert_to_kgs', 'convert_timm_efficientnet'
]
