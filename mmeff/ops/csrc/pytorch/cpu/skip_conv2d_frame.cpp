// CPU kernel of skip_conv2d_frame (see ../skip_conv2d_frame.cpp for the contract): the gate
// and snapshot update of commit_changed_windows, the position mask and its count in one loop,
// then sparse_conv2d's kernel or the dense conv, without going back through the dispatcher.
#include "skip_conv2d_frame.h"

#include <torch/library.h>

#include "commit_changed_windows_cpu.h"
#include "sparse_conv2d_cpu.h"

namespace mmeff {
namespace {

at::Tensor skip_conv2d_frame_cpu(const at::Tensor& input, const at::Tensor& snapshots,
                                 const at::Tensor& output, const at::Tensor& weight,
                                 const std::optional<at::Tensor>& bias, double limit,
                                 int64_t block_size, at::IntArrayRef stride,
                                 at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                                 double dense_above) {
  const SkipFramePlan plan = check_skip_conv2d_frame_args(
      input, snapshots, output, weight, bias, block_size, stride, padding, dilation, groups);
  const std::vector<uint8_t> fired =
      commit_changed_blocks_cpu(input, snapshots, plan.g, limit, dense_above);
  const int64_t positions = write_block_mask(fired, plan.g, plan.mask.data_ptr<bool>());
  if (positions == plan.mask.numel()) {
    dense_conv2d_into(input, weight, bias, output, stride, padding, dilation, groups);
  } else if (positions > 0) {
    sparse_conv2d_cpu(input, weight, bias, plan.mask, output, stride, padding, dilation, groups);
  }
  return at::scalar_tensor(positions, at::kLong);
}

}  // namespace

TORCH_LIBRARY_IMPL(mmeff, CPU, m) { m.impl("skip_conv2d_frame", &skip_conv2d_frame_cpu); }

}  // namespace mmeff
