// Shared declarations of the sparse_conv2d op: argument checks.
#pragma once

#include <ATen/ATen.h>

#include <optional>

#include "conv2d_geometry.h"

namespace mmeff {

// Validates every argument of sparse_conv2d (ranks, shapes, dtypes, devices, conv parameters)
// with an error that names the offending argument, and returns the geometry.
Conv2dGeometry check_sparse_conv2d_args(const at::Tensor& input, const at::Tensor& weight,
                                        const std::optional<at::Tensor>& bias,
                                        const at::Tensor& mask, const at::Tensor& out,
                                        at::IntArrayRef stride, at::IntArrayRef padding,
                                        at::IntArrayRef dilation, int64_t groups);

}  // namespace mmeff
