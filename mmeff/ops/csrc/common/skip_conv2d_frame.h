// Shared declarations of the skip_conv2d_frame op: argument checks and the dense path.
#pragma once

#include <ATen/ATen.h>

#include <optional>

#include "commit_changed_windows.h"

namespace mmeff {

// The geometry of the gate's blocks and an (uninitialised) bool (N, H_out, W_out) mask.
struct SkipFramePlan {
  BlockWindowGeometry g;
  at::Tensor mask;
};

// Checks the tensors and the geometry of skip_conv2d_frame (names the wrong argument as the
// Python wrapper does) before any state changes; the wrapper checks limit and dense_above.
SkipFramePlan check_skip_conv2d_frame_args(const at::Tensor& input, const at::Tensor& snapshots,
                                           const at::Tensor& output, const at::Tensor& weight,
                                           const std::optional<at::Tensor>& bias,
                                           int64_t block_size, at::IntArrayRef stride,
                                           at::IntArrayRef padding, at::IntArrayRef dilation,
                                           int64_t groups);

// output = conv2d(input, weight, bias) (mmeff's depthwise kernel for one depthwise frame).
void dense_conv2d_into(const at::Tensor& input, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias, const at::Tensor& output,
                       at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                       int64_t groups);

}  // namespace mmeff
