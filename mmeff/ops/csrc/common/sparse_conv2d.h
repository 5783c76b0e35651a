// Shared declarations of the sparse_conv2d op: geometry and argument checks.
#pragma once

#include <ATen/ATen.h>

#include <optional>

#ifdef __CUDACC__
#define MMEFF_HOST_DEVICE __host__ __device__
#else
#define MMEFF_HOST_DEVICE
#endif

namespace mmeff {

// Shape of a 2-D convolution as sparse_conv2d sees it, after validation.
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

// Validates every argument of sparse_conv2d (ranks, shapes, dtypes, devices, conv parameters)
// with an error that names the offending argument, and returns the geometry.
Conv2dGeometry check_sparse_conv2d_args(const at::Tensor& input, const at::Tensor& weight,
                                        const std::optional<at::Tensor>& bias,
                                        const at::Tensor& mask, const at::Tensor& out,
                                        at::IntArrayRef stride, at::IntArrayRef padding,
                                        at::IntArrayRef dilation, int64_t groups);

}  // namespace mmeff
