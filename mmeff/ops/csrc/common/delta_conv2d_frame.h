// Shared declarations of the delta_conv2d_frame op: argument checks.
#pragma once

#include <ATen/ATen.h>

#include "conv2d_geometry.h"

namespace mmeff {

// Checks the tensors and the geometry of delta_conv2d_frame (what the kernels' pointer access
// relies on; names the wrong argument as the Python wrapper does) before any state changes;
// returns the conv's geometry. The wrapper checks threshold and dense_above.
Conv2dGeometry check_delta_conv2d_frame_args(const at::Tensor& x, const at::Tensor& reference,
                                             const at::Tensor& output, const at::Tensor& weight,
                                             const at::Tensor& packed_weight,
                                             at::IntArrayRef stride, at::IntArrayRef padding,
                                             at::IntArrayRef dilation, int64_t groups);

// MACs of the dense conv of this geometry (bias additions not counted).
inline int64_t dense_macs(const Conv2dGeometry& g) {
  return g.batch * g.out_h * g.out_w * g.out_channels * g.patch_size();
}

}  // namespace mmeff
