// Geometry of a 2-D convolution, shared by the conv ops (sparse_conv2d, depthwise_conv2d).
#pragma once

#include <ATen/ATen.h>

#include "host_device.h"

namespace mmeff {

// Shape of a 2-D convolution as the conv ops see it.
struct Conv2dGeometry {
  int64_t batch, in_channels, in_h, in_w;
  int64_t out_channels, out_h, out_w;
  int64_t kernel_h, kernel_w;
  int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  int64_t groups;

  MMEFF_HOST_DEVICE int64_t in_per_group() const { return in_channels / groups; }
  MMEFF_HOST_DEVICE int64_t out_per_group() const { return out_channels / groups; }
  // Length of one row of the im2col matrix of a group: C_in/groups * kh * kw.
  MMEFF_HOST_DEVICE int64_t patch_size() const { return in_per_group() * kernel_h * kernel_w; }
};

// The geometry of conv2d(input (N, C_in, H, W), weight (C_out, C_in / groups, kh, kw)) with
// the given stride, padding and dilation (pairs already checked by the caller). The output
// size is 0 when the input is smaller than the (dilated) kernel: the caller checks it.
inline Conv2dGeometry conv2d_geometry(const at::Tensor& input, const at::Tensor& weight,
                                      at::IntArrayRef stride, at::IntArrayRef padding,
                                      at::IntArrayRef dilation, int64_t groups) {
  Conv2dGeometry g;
  g.batch = input.size(0);
  g.in_channels = input.size(1);
  g.in_h = input.size(2);
  g.in_w = input.size(3);
  g.out_channels = weight.size(0);
  g.kernel_h = weight.size(2);
  g.kernel_w = weight.size(3);
  g.stride_h = stride[0];
  g.stride_w = stride[1];
  g.pad_h = padding[0];
  g.pad_w = padding[1];
  g.dil_h = dilation[0];
  g.dil_w = dilation[1];
  g.groups = groups;
  // rows/columns of the padded input beyond the first window (< 0: not even one fits; C++
  // division truncates towards zero, so test before dividing)
  const int64_t rows = g.in_h + 2 * g.pad_h - g.dil_h * (g.kernel_h - 1) - 1;
  const int64_t cols = g.in_w + 2 * g.pad_w - g.dil_w * (g.kernel_w - 1) - 1;
  g.out_h = rows < 0 ? 0 : rows / g.stride_h + 1;
  g.out_w = cols < 0 ? 0 : cols / g.stride_w + 1;
  return g;
}

}  // namespace mmeff
