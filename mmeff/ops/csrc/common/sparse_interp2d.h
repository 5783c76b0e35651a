// sparse_interp2d: the argument checks that the schema file, the CPU and the CUDA kernels share.
#pragma once

#include <ATen/ATen.h>

#include <optional>

#include "host_device.h"

namespace mmeff {

// The largest interpolation window (kernel_size x kernel_size) the op takes.
constexpr int64_t kMaxInterpWindow = 31;

// Checks x (N, C, H, W) float, mask bool (N, H, W), log_weight (k, k) or (C, k, k) with k odd
// and <= kMaxInterpWindow, fill absent or (C,), out (N, C, H, W) contiguous (NCHW or
// channels_last) and sharing no memory with an input; all on x's device, floats of x's dtype.
// Returns k.
int64_t check_sparse_interp2d_args(const char* op, const at::Tensor& x, const at::Tensor& mask,
                                   const at::Tensor& log_weight,
                                   const std::optional<at::Tensor>& fill, const at::Tensor& out);

// Calls visit(q, tap) for every sampled position of the k x k window centred on (y, col) of
// one (height, width) mask: q is its flat index in the plane, tap its index in the window.
template <typename Visit>
MMEFF_HOST_DEVICE inline void for_each_window_sample(const bool* mask, int64_t height,
                                                     int64_t width, int64_t window, int64_t y,
                                                     int64_t col, Visit&& visit) {
  const int64_t r = window / 2;
  for (int64_t dy = -r; dy <= r; ++dy) {
    const int64_t qy = y + dy;
    if (qy < 0 || qy >= height) continue;
    for (int64_t dx = -r; dx <= r; ++dx) {
      const int64_t qx = col + dx;
      if (qx < 0 || qx >= width || !mask[qy * width + qx]) continue;
      visit(qy * width + qx, (dy + r) * window + (dx + r));
    }
  }
}

}  // namespace mmeff
