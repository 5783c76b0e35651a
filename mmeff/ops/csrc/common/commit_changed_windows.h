// Shared declarations of the commit_changed_windows op: geometry of the output blocks' input
// windows, and the argument checks.
#pragma once

#include <ATen/ATen.h>

#include "host_device.h"

namespace mmeff {

// The output of a conv is tiled into b x b blocks; block (i, j) is computed from the input
// window of win_h x win_w pixels starting at (i * b * stride_h - pad_h, j * b * stride_w - pad_w)
// (pixels outside the input read as zero, the conv's zero padding).
struct BlockWindowGeometry {
  int64_t batch, channels, in_h, in_w;
  int64_t out_h, out_w, block;
  int64_t blocks_h, blocks_w, win_h, win_w;
  int64_t stride_h, stride_w, pad_h, pad_w;

  MMEFF_HOST_DEVICE int64_t blocks() const { return batch * blocks_h * blocks_w; }
  MMEFF_HOST_DEVICE int64_t window_size() const { return channels * win_h * win_w; }
  MMEFF_HOST_DEVICE int64_t row0(int64_t bi) const { return bi * block * stride_h - pad_h; }
  MMEFF_HOST_DEVICE int64_t col0(int64_t bj) const { return bj * block * stride_w - pad_w; }
};

// Checks the tensors and the geometry (what the kernels' pointer access relies on; errors
// start with `op` and name the argument as the Python wrapper does) and returns the geometry.
// The wrapper checks limit and commit_all_above.
BlockWindowGeometry check_commit_changed_windows_args(
    const char* op, const at::Tensor& input, const at::Tensor& snapshots, int64_t block_size,
    at::IntArrayRef kernel_size, at::IntArrayRef stride, at::IntArrayRef padding,
    at::IntArrayRef dilation);

// The (N, H_out, W_out) bool mask of the output positions covered by the fired blocks
// (`fired` is (N, blocks_h, blocks_w) bool).
at::Tensor block_positions(const at::Tensor& fired, const BlockWindowGeometry& g);

}  // namespace mmeff
