// kgs_conv3d: geometry and argument checks shared by the schema file and the kernels.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>

namespace mmeff {

// One kgs_conv3d call: x (batch, in_c, in_t, in_h, in_w) -> (batch, out_c, out_t, out_h, out_w).
// The packed weight has `blocks` row blocks of `group_rows` filters and `entries` columns.
struct KgsConv3dGeometry {
  int64_t batch, in_c, in_t, in_h, in_w;
  int64_t out_c, out_t, out_h, out_w;
  int64_t kernel[3], stride[3], padding[3], dilation[3];
  int64_t group_rows, blocks, entries;

  int64_t taps() const { return kernel[0] * kernel[1] * kernel[2]; }
  int64_t in_plane() const { return in_t * in_h * in_w; }
  int64_t out_plane() const { return out_t * out_h * out_w; }
};

// Checks every argument of kgs_conv3d, the contents of block_ptr and columns included (on a
// host copy where they are not on the CPU), and returns the geometry. Errors start
// "kgs_conv3d: ".
KgsConv3dGeometry check_kgs_conv3d_args(const at::Tensor& x, const at::Tensor& values,
                                        const at::Tensor& block_ptr, const at::Tensor& columns,
                                        const std::optional<at::Tensor>& bias, int64_t out_channels,
                                        at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                        at::IntArrayRef padding, at::IntArrayRef dilation);

}  // namespace mmeff
