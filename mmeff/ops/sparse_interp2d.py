"""Fill the unsampled positions of a feature map from the sampled ones in a k x k window.

``sparse_interp2d`` is the interpolation step of the sampling-interpolation blocks
(docs/sampling_interp.md): a feature map is valid only at the positions of ``mask``; every
other position gets the softmax-weighted mean of the sampled positions in its window. The
compiled kernels (``torch.ops.mmeff.sparse_interp2d``) work from the list of sampled positions
in each window, never a dense convolution; ``sparse_interp2d_reference`` is the dense
pure-PyTorch oracle and fallback, differentiable and also defined for a soft mask.

The weights are given as log weights, and each window is normalised by its own largest
sampled log weight. The sum is therefore never divided by a value that underflowed, and no
absolute epsilon floor is needed: an RBF interpolant with a narrow bandwidth still fills a
pixel whose nearest sample is several pixels away.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .extension import KERNEL_DTYPES, register_fake, select_kernel

#: The largest window the compiled op takes (``kMaxInterpWindow`` in C++).
MAX_INTERP_WINDOW = 31


def _check_args(x: Tensor, mask: Tensor, log_weight: Tensor, fill: Optional[Tensor]) -> None:
    """Raise a ValueError/TypeError naming the argument that is wrong."""
    if x.dim() != 4:
        raise ValueError(f'sparse_interp2d: x must be 4-D (N, C, H, W), got {tuple(x.shape)}')
    n, c, h, w = x.shape
    if tuple(mask.shape) != (n, h, w):
        raise ValueError(f'sparse_interp2d: mask must have shape (N, H, W) = {(n, h, w)}, '
                         f'got {tuple(mask.shape)}')
    if log_weight.dim() not in (2, 3) or log_weight.shape[-1] != log_weight.shape[-2] or (
            log_weight.dim() == 3 and log_weight.shape[0] != c):
        raise ValueError(f'sparse_interp2d: log_weight must be (k, k) or (C, k, k) with C={c}, '
                         f'got {tuple(log_weight.shape)}')
    k = log_weight.shape[-1]
    if k % 2 == 0 or k > MAX_INTERP_WINDOW:
        raise ValueError(f'sparse_interp2d: log_weight window must be odd and at most '
                         f'{MAX_INTERP_WINDOW}, got {k}x{k}')
    if fill is not None and tuple(fill.shape) != (c, ):
        raise ValueError(f'sparse_interp2d: fill must have shape ({c},), got {tuple(fill.shape)}')
    if not x.is_floating_point():
        raise TypeError(f'sparse_interp2d: x must be floating point, got {x.dtype}')
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise TypeError(f'sparse_interp2d: mask must be bool (or float in [0, 1] for the '
                        f'reference), got {mask.dtype}')


def _output_format(x: Tensor) -> torch.memory_format:
    """channels_last for a channels_last x on the CPU (the kernel's pixel-major loop), else
    contiguous."""
    if x.device.type == 'cpu' and not x.is_contiguous() and x.is_contiguous(
            memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def sparse_interp2d_reference(x: Tensor, mask: Tensor, log_weight: Tensor,
                              fill: Optional[Tensor] = None) -> Tensor:
    """The definition of :func:`sparse_interp2d`, dense, in plain PyTorch.

    Args:
        x: (N, C, H, W); its values where ``mask`` is 0 are never used (NaN is fine there).
        mask: (N, H, W), bool, or float in [0, 1] (the soft mask of training).
        log_weight: (k, k) or (C, k, k), k odd: the log weight of the sample at offset
            (i - k // 2, j - k // 2) from the filled position is ``log_weight[..., i, j]``;
            -inf excludes a tap.
        fill: (C,) or None: the value where the window holds no sample (0 without it).

    Returns:
        (N, C, H, W): ``m * x + (1 - m) * interp`` with ``m`` the mask and
        ``interp[p] = sum_q m[q] e^{lw[q-p]} x[q] / sum_q m[q] e^{lw[q-p]}`` over the window
        of p, or ``fill`` where no tap has ``m[q] > 0`` and a finite log weight. For a bool
        mask this is x at the sampled positions and the interpolation elsewhere.
    """
    n, c, h, w = x.shape
    k = log_weight.shape[-1]
    r = k // 2
    lw = log_weight.reshape(-1, k, k).to(x.dtype)
    soft = mask.to(x.dtype).unsqueeze(1)
    values = F.pad(torch.where(soft > 0, x, torch.zeros_like(x)), (r, r, r, r))
    weights = F.pad(soft, (r, r, r, r))
    neg_inf = torch.tensor(float('-inf'), dtype=x.dtype, device=x.device)

    def tap_logit(i: int, j: int) -> Tensor:
        """(N, C or 1, H, W): the tap's log weight where it holds a sample, else -inf."""
        present = weights[:, :, i:i + h, j:j + w] > 0
        return torch.where(present, lw[:, i, j].view(1, -1, 1, 1), neg_inf)

    top = torch.full((n, lw.shape[0], h, w), float('-inf'), dtype=x.dtype, device=x.device)
    for i in range(k):
        for j in range(k):
            top = torch.maximum(top, tap_logit(i, j).detach())
    found = top > float('-inf')
    shift = torch.where(found, top, torch.zeros_like(top))
    num = torch.zeros_like(x)
    den = torch.zeros_like(top)
    for i in range(k):
        for j in range(k):
            e = torch.exp(tap_logit(i, j) - shift) * weights[:, :, i:i + h, j:j + w]
            num = num + e * values[:, :, i:i + h, j:j + w]
            den = den + e
    empty = torch.zeros(c, dtype=x.dtype, device=x.device) if fill is None else fill.to(x.dtype)
    interp = torch.where(found, num / torch.where(found, den, torch.ones_like(den)),
                         empty.view(1, c, 1, 1))
    if mask.dtype == torch.bool:
        return torch.where(mask.unsqueeze(1), x, interp)
    return soft * values[:, :, r:r + h, r:r + w] + (1 - soft) * interp


def sparse_interp2d(x: Tensor, mask: Tensor, log_weight: Tensor, fill: Optional[Tensor] = None, *,
                    out: Optional[Tensor] = None) -> Tensor:
    """Interpolate the unsampled positions of ``x`` from the sampled ones (see the reference).

    Args:
        x: (N, C, H, W), valid where ``mask`` is true.
        mask: (N, H, W) bool (a float mask runs the reference).
        log_weight: (k, k) shared by the channels, or (C, k, k); k odd, at most
            :data:`MAX_INTERP_WINDOW`.
        fill: (C,) or None: the value of a position whose window holds no sample.
        out: optional (N, C, H, W) buffer, contiguous (or channels_last on the CPU), fully
            overwritten and returned.

    Returns:
        (N, C, H, W): channels_last for a channels_last x on the CPU, else contiguous. The
        compiled kernel runs by the device policy
        (:func:`~mmeff.ops.extension.select_kernel`) for a bool mask; otherwise the reference.
    """
    _check_args(x, mask, log_weight, fill)
    kernel = select_kernel('sparse_interp2d', x, (x, mask, log_weight, fill, out),
                           supported=x.dtype in KERNEL_DTYPES and mask.dtype == torch.bool)
    if kernel is None:
        result = sparse_interp2d_reference(x, mask, log_weight, fill)
        return result if out is None else out.copy_(result)
    if out is None:
        out = torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=_output_format(x))
    kernel(x, mask, log_weight.to(x.dtype), None if fill is None else fill.to(x.dtype), out)
    return out


@register_fake('sparse_interp2d')
def _sparse_interp2d_fake(x, mask, log_weight, fill, out):
    """Meta kernel: the op only writes ``out``."""
    return None
