// Shared declarations of the delta_conv2d_frame op: argument checks.
#pragma once

#include <ATen/ATen.h>

#include "conv2d_geometry.h"

namespace mmeff {

// Validates every argument of delta_conv2d_frame (names the wrong one) before any state
// changes; returns the conv's geometry.
Conv2dGeometry check_delta_conv2d_frame_args(const at::Tensor& input, const at::Tensor& reference,
                                             const at::Tensor& output, const at::Tensor& weight,
                                             const at::Tensor& packed_weight, double threshold,
                                             at::IntArrayRef stride, at::IntArrayRef padding,
                                             at::IntArrayRef dilation, int64_t groups,
                                             double dense_above);

// MACs of the dense conv of this geometry (bias additions not counted).
inline int64_t dense_macs(const Conv2dGeometry& g) {
  return g.batch * g.out_h * g.out_w * g.out_channels * g.patch_size();
}

}  // namespace mmeff
