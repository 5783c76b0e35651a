// Shared declarations of the sparse_conv2d op: argument checks.
#pragma once

#include <ATen/ATen.h>

#include <optional>

#include "conv2d_geometry.h"

namespace mmeff {

// Checks what the kernels' pointer access relies on (ranks, shapes, dtypes, devices, conv
// parameters, out's layout, aliasing) and returns the geometry. Errors start with `op` (e.g.
// "sparse_conv2d: ") and name the argument as the Python wrapper does; the written tensor is
// called `out_name`. Errors are RuntimeErrors.
Conv2dGeometry check_sparse_conv2d_args(const char* op, const char* out_name, const at::Tensor& x,
                                        const at::Tensor& weight,
                                        const std::optional<at::Tensor>& bias,
                                        const at::Tensor& mask, const at::Tensor& out,
                                        at::IntArrayRef stride, at::IntArrayRef padding,
                                        at::IntArrayRef dilation, int64_t groups);

}  // namespace mmeff
