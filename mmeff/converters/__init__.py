"""Model converters: turn stock models into efficient ones with the same weights."""
from .skipconv import convert_to_skipconv, fold_batchnorm, fold_batchnorms

__all__ = ['convert_to_skipconv', 'fold_batchnorm', 'fold_batchnorms']
